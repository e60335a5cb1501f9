namespace LoraSqueeze.Server.Serving;

/// <summary>The engine's queue is full: gRPC answers RESOURCE_EXHAUSTED, HTTP 429. The client should retry later.</summary>
public sealed class QueueFullException(int queueLength)
    : Exception($"the request queue is full ({queueLength} waiting); retry later");
