using LoraSqueeze.Server.Adapters;

namespace LoraSqueeze.Server.Engine;

/// <summary>
/// Which adapter sits in which device slot. Engine thread only. A slot whose adapter has open leases is pinned;
/// among the rest, the least recently used is reused first.
/// </summary>
internal sealed class DeviceSlotTable(int count)
{
    private readonly AdapterEntry?[] _slots = new AdapterEntry?[count];
    private readonly long[] _lastUse = new long[count];
    private long _clock;

    public int Count => _slots.Length;

    public int Used => _slots.Count(s => s is not null);

    public AdapterEntry? this[int slot] => _slots[slot];

    public void Touch(int slot) => _lastUse[slot] = ++_clock;

    public void Assign(int slot, AdapterEntry entry)
    {
        _slots[slot] = entry;
        Touch(slot);
    }

    public void Free(int slot) => _slots[slot] = null;

    /// <summary>A free slot, else the least recently used slot whose adapter has no leases; -1 when all are pinned.</summary>
    public int FindFreeOrEvictable()
    {
        int best = -1;
        for (int i = 0; i < _slots.Length; i++)
        {
            var entry = _slots[i];
            if (entry is null) return i;
            bool pinned;
            lock (entry.Gate) pinned = entry.Leases > 0;
            if (!pinned && (best < 0 || _lastUse[i] < _lastUse[best])) best = i;
        }
        return best;
    }
}
