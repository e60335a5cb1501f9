namespace LoraSqueeze.Engine;

/// <summary>The engine is not running (failed to start, or shutting down): answered with UNAVAILABLE.</summary>
public sealed class EngineUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
