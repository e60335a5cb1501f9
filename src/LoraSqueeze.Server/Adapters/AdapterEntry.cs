using LoraSqueeze.Core.Adapters;

namespace LoraSqueeze.Server.Adapters;

/// <summary>
/// One adapter the server knows in memory, with its residency. Mutable state is guarded by <see cref="Gate"/>.
/// Invariant: while <see cref="Leases"/> &gt; 0 (requests queued, running, or waiting for its load) the entry keeps
/// whatever residency it has: its device slot is not reused and its host weights are not disposed.
/// </summary>
public sealed class AdapterEntry(string id, string sourceDirectory, int targetRank)
{
    public string Id { get; } = id;
    public string SourceDirectory { get; } = sourceDirectory;
    public int TargetRank { get; } = targetRank;

    internal Lock Gate { get; } = new();

    /// <summary>Squeezed host copy; null when only on disk (or only in a device slot).</summary>
    internal LoraWeights? Weights { get; set; }
    internal AdapterLoadInfo? Info { get; set; }
    internal long Bytes { get; set; }
    internal int Slot { get; set; } = -1;
    internal int Leases { get; set; }
    internal bool InHostCache { get; set; }

    /// <summary>Unloaded: no longer in the registry; freed once its last lease ends.</summary>
    internal bool Detached { get; set; }

    internal Task? LoadTask { get; set; }
    internal long Hits { get; set; }
    internal DateTimeOffset? LastUsed { get; set; }
    internal TaskCompletionSource Drained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal AdapterTier Tier => Slot >= 0 ? AdapterTier.Device : Weights is not null ? AdapterTier.Host : AdapterTier.Disk;

    internal AdapterSnapshot Snapshot()
    {
        lock (Gate)
        {
            return new AdapterSnapshot(Id, Tier, Leases > 0, Leases, Hits, LastUsed, Bytes, Info, SourceDirectory, Slot);
        }
    }
}
