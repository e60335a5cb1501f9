namespace LoraSqueeze.Engine.Adapters;

/// <summary>What the <see cref="AdapterManager"/> needs from the server's configuration.</summary>
public sealed record AdapterManagerOptions
{
    /// <summary>The slot rank: adapters squeeze to it unless a load asks for less.</summary>
    public required int TargetRank { get; init; }

    /// <summary>Host tier budget in bytes.</summary>
    public required long HostCacheBytes { get; init; }

    /// <summary>The energy floor the loader applies (for logs only; the loader enforces it), null when off.</summary>
    public double? MinRetainedEnergy { get; init; }

    /// <summary>Adapter loads (read + squeeze) running at once.</summary>
    public int MaxConcurrentLoads { get; init; } = 1;
}
