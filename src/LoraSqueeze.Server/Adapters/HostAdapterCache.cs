using System.Collections.Concurrent;
using LoraSqueeze.Server.Metrics;
using Microsoft.Extensions.Caching.Memory;

namespace LoraSqueeze.Server.Adapters;

/// <summary>
/// The host tier: squeezed adapters in a <see cref="MemoryCache"/> whose SizeLimit is the host budget in bytes.
/// MemoryCache does not evict least-recently-used entries to admit a new one (with SizeLimit it refuses the new
/// entry, and its own compaction ignores our pins), so entries are stored with <see cref="CacheItemPriority.NeverRemove"/>
/// and this class makes room itself: unpinned entries go first, least recently used first. Eviction callbacks run on
/// the thread pool, so they never dispose tensors; they hand the entry to <paramref name="onEvicted"/>, which posts
/// the release to the engine thread.
/// </summary>
public sealed class HostAdapterCache : IDisposable
{
    private readonly MemoryCache _cache;
    private readonly ConcurrentDictionary<string, AdapterEntry> _members = new(StringComparer.Ordinal);
    private readonly Lock _admission = new();
    private readonly ServerMetrics _metrics;
    private readonly Action<AdapterEntry> _onEvicted;
    private long _bytes;

    public HostAdapterCache(long budgetBytes, ServerMetrics metrics, Action<AdapterEntry> onEvicted)
    {
        BudgetBytes = budgetBytes;
        _metrics = metrics;
        _onEvicted = onEvicted;
        _cache = new MemoryCache(new MemoryCacheOptions { SizeLimit = budgetBytes, TrackStatistics = true });
    }

    public long BudgetBytes { get; }

    public long UsedBytes => Interlocked.Read(ref _bytes);

    public int Count => _members.Count;

    /// <summary>
    /// Admits a freshly loaded adapter, evicting unpinned least-recently-used ones to make room. Returns false when it
    /// does not fit even then; the caller's lease keeps it usable until the request ends.
    /// </summary>
    public bool TryAdmit(AdapterEntry entry, long bytes)
    {
        lock (_admission)
        {
            if (_members.ContainsKey(entry.Id) || bytes > BudgetBytes) return false;
            while (UsedBytes + bytes > BudgetBytes)
            {
                var victim = _members.Values
                    .Select(e => (Entry: e, Info: PinInfo(e)))
                    .Where(x => !x.Info.Pinned && !ReferenceEquals(x.Entry, entry))
                    .OrderBy(x => x.Info.LastUse)
                    .Select(x => x.Entry)
                    .FirstOrDefault();
                if (victim is null) return false;
                Remove(victim, eviction: true);
            }
            lock (entry.Gate) entry.InHostCache = true;
            var options = new MemoryCacheEntryOptions { Size = bytes, Priority = CacheItemPriority.NeverRemove };
            options.RegisterPostEvictionCallback(OnEvicted, entry);
            _members[entry.Id] = entry;
            Interlocked.Add(ref _bytes, bytes);
            _cache.Set(entry.Id, entry, options);
            if (_cache.TryGetValue(entry.Id, out _)) return true;
            // MemoryCache refused it after all (its size accounting lags callbacks); its callback undoes the rest.
            return false;
        }
    }

    /// <summary>Drops an adapter from the host tier (unload, or eviction to make room). Its callback frees the tensors.</summary>
    public void Remove(AdapterEntry entry, bool eviction = false)
    {
        // Membership and bytes change here, synchronously, so a make-room loop sees the space at once; the
        // MemoryCache callback that follows runs later on the thread pool.
        if (!_members.TryRemove(new KeyValuePair<string, AdapterEntry>(entry.Id, entry))) return;
        lock (entry.Gate) Interlocked.Add(ref _bytes, -entry.Bytes);
        if (eviction) _metrics.AdapterEvictions.WithLabels("host").Inc();
        _cache.Remove(entry.Id);
    }

    private static (bool Pinned, DateTimeOffset LastUse) PinInfo(AdapterEntry e)
    {
        lock (e.Gate) return (e.Leases > 0, e.LastUsed ?? DateTimeOffset.MinValue);
    }

    private void OnEvicted(object key, object? value, EvictionReason reason, object? state)
    {
        if (state is not AdapterEntry entry || reason == EvictionReason.Replaced) return;
        // Still a member: MemoryCache dropped it on its own (refused for size); account for it here.
        if (_members.TryRemove(new KeyValuePair<string, AdapterEntry>(entry.Id, entry)))
        {
            lock (entry.Gate) Interlocked.Add(ref _bytes, -entry.Bytes);
        }
        lock (entry.Gate) entry.InHostCache = false;
        _onEvicted(entry);
    }

    public void Dispose() => _cache.Dispose();
}
