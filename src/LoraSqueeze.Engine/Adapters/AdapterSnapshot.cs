namespace LoraSqueeze.Engine.Adapters;

/// <summary>A consistent read of an adapter's state for Adapters.List and Adapters.Get. <c>Slot</c>: the head device slot, −1 when none.</summary>
public sealed record AdapterSnapshot(
    string Id,
    AdapterTier Tier,
    bool Pinned,
    int ActiveRequests,
    long Hits,
    DateTimeOffset? LastUsed,
    long Bytes,
    AdapterLoadInfo? Info,
    string Source,
    int Slot)
{
    /// <summary>Every device slot the adapter holds (its group; <see cref="Slot"/> is the first), empty when none.</summary>
    public IReadOnlyList<int> Slots { get; init; } = [];
}
