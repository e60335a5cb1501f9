namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// Which adapter sits in which device slots, and when each was last used. Part of the <see cref="AdapterManager"/>:
/// read and written under its lock, changed on the engine thread only. An adapter holds one slot, or a group of k
/// (the energy floor, <see cref="AdapterRecord.Slots"/>); every slot of a group points at its record. Among adapters
/// with no lease, the least recently used is evicted first, and an eviction frees all of an adapter's slots.
/// </summary>
internal sealed class DeviceSlotTable(int count)
{
    private readonly AdapterRecord?[] _slots = new AdapterRecord?[count];
    private readonly long[] _lastUse = new long[count];
    private long _clock;

    public int Count => _slots.Length;

    /// <summary>Slots holding an adapter.</summary>
    public int Used { get; private set; }

    /// <summary>Adapters holding slots (a k-slot adapter counts once).</summary>
    public int Adapters { get; private set; }

    public AdapterRecord? this[int slot] => _slots[slot];

    public void Touch(IReadOnlyList<int> slots)
    {
        long now = ++_clock;
        foreach (var slot in slots) _lastUse[slot] = now;
    }

    public void Assign(IReadOnlyList<int> slots, AdapterRecord record)
    {
        foreach (var slot in slots)
        {
            if (_slots[slot] is not null) throw new InvalidOperationException($"device slot {slot} is taken by '{_slots[slot]!.Id}'");
            _slots[slot] = record;
            Used++;
        }
        Adapters++;
        Touch(slots);
    }

    /// <summary>Frees every slot of <paramref name="slots"/> that <paramref name="record"/> holds.</summary>
    public void Free(IReadOnlyList<int> slots, AdapterRecord record)
    {
        bool any = false;
        foreach (var slot in slots)
        {
            if (!ReferenceEquals(_slots[slot], record)) continue;
            _slots[slot] = null;
            Used--;
            any = true;
        }
        if (any) Adapters--;
    }

    /// <summary>
    /// <paramref name="k"/> slots for a new adapter: free slots first (lowest index), then the slots of unleased adapters,
    /// least recently used first, which become <paramref name="victims"/> (each loses all its slots, so an eviction may
    /// free more than are needed). Null, evicting nothing, when free plus evictable slots are fewer than k.
    /// </summary>
    public int[]? Find(int k, out List<AdapterRecord> victims)
    {
        victims = [];
        var free = new List<int>(k);
        for (int i = 0; i < _slots.Length && free.Count < k; i++)
        {
            if (_slots[i] is null) free.Add(i);
        }
        if (free.Count == k) return [.. free];
        // Unleased adapters by last use; a group's slots share one time stamp (touched together).
        var candidates = new List<(long LastUse, AdapterRecord Record)>();
        var seen = new HashSet<AdapterRecord>(ReferenceEqualityComparer.Instance);
        for (int i = 0; i < _slots.Length; i++)
        {
            if (_slots[i] is { Leases: 0 } record && seen.Add(record)) candidates.Add((_lastUse[i], record));
        }
        candidates.Sort((a, b) => a.LastUse.CompareTo(b.LastUse));
        int have = free.Count;
        foreach (var (_, record) in candidates)
        {
            if (have >= k) break;
            victims.Add(record);
            have += record.Slots.Length;
        }
        if (have < k)
        {
            victims.Clear();
            return null;
        }
        // The free slots, then the victims' (a victim's slots beyond the k needed are left free).
        return [.. free.Concat(victims.SelectMany(v => v.Slots)).Take(k).Order()];
    }
}
