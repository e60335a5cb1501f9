using Microsoft.Extensions.Caching.Memory;

namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// The host tier: squeezed adapters in a <see cref="MemoryCache"/> whose <see cref="MemoryCacheOptions.SizeLimit"/> is
/// the host budget in bytes and each entry's size its bytes. The cache is the only bookkeeping of membership, bytes
/// and recency: a use is a <see cref="MemoryCache.TryGetValue"/> (which stamps the entry's last access), and making
/// room is <see cref="MemoryCache.Compact"/>, which removes entries by priority, then least recently accessed first
/// (Microsoft.Extensions.Caching.Memory's own order). Pins need no priority: a request's lease keeps its adapter's
/// tensors alive after a host eviction, so evicting a leased entry only means it is not cached after the request.
/// Eviction callbacks run on the thread pool and go to <paramref name="onEvicted"/> (the manager), never dispose.
/// </summary>
internal sealed class HostAdapterCache : IDisposable
{
    private readonly MemoryCache _cache;
    private readonly Action<HostTicket, bool> _onEvicted;

    /// <param name="onEvicted">Called with the admission's ticket and whether the cache removed it to make room (not an unload).</param>
    public HostAdapterCache(long budgetBytes, Action<HostTicket, bool> onEvicted)
    {
        BudgetBytes = budgetBytes;
        _onEvicted = onEvicted;
        _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = budgetBytes, TrackStatistics = true });
    }

    public long BudgetBytes { get; }

    /// <summary>Bytes held (MemoryCache's size accounting is updated synchronously on set and removal).</summary>
    public long UsedBytes => _cache.GetCurrentStatistics()?.CurrentEstimatedSize ?? 0;

    public int Count => _cache.Count;

    /// <summary>
    /// Caches a freshly loaded adapter. With <paramref name="mayEvict"/>, least recently used entries are compacted away
    /// until it fits; without (the start-up preload), it is cached only if it fits as things are. False when it is not
    /// cached; the caller's lease keeps it usable until the request ends.
    /// </summary>
    public bool TryAdmit(HostTicket ticket, long bytes, bool mayEvict)
    {
        if (bytes > BudgetBytes) return false;
        var record = ticket.Record;
        lock (_cache)
        {
            while (UsedBytes + bytes > BudgetBytes)
            {
                int count = _cache.Count;
                if (!mayEvict || count == 0) return false;
                // Compact takes a share of the entry count: 1.5/count removes exactly one (the share is floored).
                _cache.Compact(Math.Min(1.0, 1.5 / count));
            }
            var options = new MemoryCacheEntryOptions { Size = bytes, Priority = CacheItemPriority.Normal };
            options.RegisterPostEvictionCallback(OnEvicted, ticket);
            _cache.Set(ticket.Key, record, options);
            return _cache.TryGetValue(ticket.Key, out object? cached) && ReferenceEquals(cached, record);
        }
    }

    /// <summary>A use: stamps the entry's last access for the cache's LRU order.</summary>
    public void Touch(HostTicket ticket) => _cache.TryGetValue(ticket.Key, out _);

    /// <summary>Drops an admission (unload); its eviction callback follows on the thread pool.</summary>
    public void Remove(HostTicket ticket) => _cache.Remove(ticket.Key);

    private void OnEvicted(object key, object? value, EvictionReason reason, object? state)
    {
        if (state is not HostTicket ticket || reason == EvictionReason.Replaced) return;
        _onEvicted(ticket, reason is EvictionReason.Capacity);
    }

    public void Dispose() => _cache.Dispose();
}

/// <summary>
/// One admission of a record to the host tier. Eviction callbacks arrive later on the thread pool; the manager acts on
/// one only while it is still the record's current ticket, so a late callback never undoes a newer admission.
/// </summary>
internal sealed class HostTicket(AdapterRecord record)
{
    private static long s_next;

    public AdapterRecord Record { get; } = record;

    /// <summary>The cache key: unique per admission, so an unload of one record never removes a newer record of the same id.</summary>
    public string Key { get; } = $"{record.Id}#{Interlocked.Increment(ref s_next)}";
}
