namespace LoraSqueeze.Engine.Adapters;

/// <summary>An adapter path that leaves the configured adapter roots (answered with PERMISSION_DENIED).</summary>
public sealed class AdapterPathException(string message) : Exception(message);
