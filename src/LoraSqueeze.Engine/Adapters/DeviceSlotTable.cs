namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// Which adapter sits in which device slot, and when each was last used. Part of the <see cref="AdapterManager"/>:
/// read and written under its lock, changed on the engine thread only. Among slots whose adapter has no lease, the
/// least recently used is reused first.
/// </summary>
internal sealed class DeviceSlotTable(int count)
{
    private readonly AdapterRecord?[] _slots = new AdapterRecord?[count];
    private readonly long[] _lastUse = new long[count];
    private long _clock;

    public int Count => _slots.Length;

    public int Used { get; private set; }

    public AdapterRecord? this[int slot] => _slots[slot];

    public void Touch(int slot) => _lastUse[slot] = ++_clock;

    public void Assign(int slot, AdapterRecord record)
    {
        if (_slots[slot] is null) Used++;
        _slots[slot] = record;
        Touch(slot);
    }

    public void Free(int slot)
    {
        if (_slots[slot] is not null) Used--;
        _slots[slot] = null;
    }

    /// <summary>A free slot, else the least recently used slot whose adapter has no leases; -1 when all are pinned.</summary>
    public int FindFreeOrEvictable()
    {
        int best = -1;
        for (int i = 0; i < _slots.Length; i++)
        {
            var record = _slots[i];
            if (record is null) return i;
            if (record.Leases == 0 && (best < 0 || _lastUse[i] < _lastUse[best])) best = i;
        }
        return best;
    }
}
