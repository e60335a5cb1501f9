using LoraSqueeze.Core.Adapters;

namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// One adapter the manager knows in memory. Every field is read and written under the manager's lock only; the state
/// changes through <see cref="MoveTo"/>, which refuses moves the state machine (<see cref="AdapterState"/>) does not
/// have. Invariant: while <see cref="Leases"/> &gt; 0 the device slot is not reused and <see cref="Weights"/> is not
/// disposed (a host eviction only drops the cache's claim; the tensors go when the last lease ends).
/// </summary>
public sealed class AdapterRecord(string id, string sourceDirectory, int targetRank)
{
    public string Id { get; } = id;
    public string SourceDirectory { get; } = sourceDirectory;
    public int TargetRank { get; } = targetRank;

    internal AdapterState State { get; private set; } = AdapterState.Disk;

    /// <summary>Squeezed factors on the host: cached in the host tier (<see cref="HostCopy"/>) or kept by leases.</summary>
    internal LoraWeights? Weights { get; set; }

    /// <summary>The host tier's current admission of <see cref="Weights"/>; null when the host tier does not hold it.</summary>
    internal HostTicket? HostTicket { get; set; }

    /// <summary>The host tier holds <see cref="Weights"/>.</summary>
    internal bool HostCopy => HostTicket is not null;

    internal AdapterLoadInfo? Info { get; set; }
    internal long Bytes { get; set; }
    /// <summary>The device slots the adapter holds (its group; the first is the head a step's rows name), empty when none.</summary>
    internal int[] Slots { get; set; } = [];

    /// <summary>The head slot, −1 when not on the device.</summary>
    internal int Slot => Slots.Length > 0 ? Slots[0] : -1;

    /// <summary>Slots the adapter needs on the device (k when the energy floor squeezed it to k·r).</summary>
    internal int SlotsNeeded => Info?.Slots ?? 1;
    internal int Leases { get; set; }
    internal Task? LoadTask { get; set; }
    internal long Hits { get; set; }
    internal DateTimeOffset? LastUsed { get; set; }

    /// <summary>Completed once an unloaded adapter's last lease has ended and the engine freed its slot and copy.</summary>
    internal TaskCompletionSource Drained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal void MoveTo(AdapterState next)
    {
        bool legal = (State, next) switch
        {
            (_, AdapterState.Unloaded) => State != AdapterState.Unloaded,
            (AdapterState.Disk, AdapterState.Loading) => true,
            (AdapterState.Loading, AdapterState.Host or AdapterState.Disk) => true,
            (AdapterState.Host, AdapterState.Device or AdapterState.Disk) => true,
            (AdapterState.Device, AdapterState.Host or AdapterState.Disk) => true,
            _ => false,
        };
        if (!legal) throw new InvalidOperationException($"adapter '{Id}': no move from {State} to {next}");
        State = next;
    }

    /// <summary>The tier Adapters.Get reports.</summary>
    internal AdapterTier Tier => Slot >= 0 ? AdapterTier.Device : Weights is not null ? AdapterTier.Host : AdapterTier.Disk;

    internal AdapterSnapshot Snapshot() =>
        new(Id, Tier, Leases > 0, Leases, Hits, LastUsed, Bytes, Info, SourceDirectory, Slot) { Slots = Slots };
}
