namespace LoraSqueeze.Engine.Adapters;

/// <summary>A consistent read of an adapter's state for Adapters.List and Adapters.Get.</summary>
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
    int Slot);
