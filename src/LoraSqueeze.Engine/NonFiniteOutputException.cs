namespace LoraSqueeze.Engine;

/// <summary>
/// A request's logits became NaN or ±Inf (an adapter whose weights overflow): the request is stopped with this error,
/// named by its adapter, instead of streaming tokens drawn from garbage. Other requests are unaffected (their rows and
/// steps never read this one's data). Answered with FAILED_PRECONDITION.
/// </summary>
public sealed class NonFiniteOutputException(long requestId, string? adapterId)
    : Exception(adapterId is null
        ? $"request {requestId}: the base model produced non-finite logits; the request was stopped"
        : $"adapter '{adapterId}' produced non-finite logits (its weights overflow); the request was stopped")
{
    public string? AdapterId { get; } = adapterId;
}
