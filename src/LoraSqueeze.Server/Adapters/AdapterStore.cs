using System.Collections.Concurrent;
using System.Diagnostics;
using LoraSqueeze.Server.Engine;
using LoraSqueeze.Server.Hosting;
using LoraSqueeze.Server.Metrics;
using Microsoft.Extensions.Logging;

namespace LoraSqueeze.Server.Adapters;

/// <summary>
/// The adapter registry across tiers (device slots ← host cache ← disk). Finds adapters by id under the adapter roots
/// and loads them on first use, or explicitly; each load runs once however many requests wait for it, on a loader
/// task off the engine thread. Requests hold an <see cref="AdapterLease"/> which pins the adapter where it is.
/// Tensors are only ever freed on the engine thread (<see cref="InferenceEngine.PostCleanup"/>).
/// </summary>
public sealed class AdapterStore : IDisposable
{
    private readonly ConcurrentDictionary<string, AdapterEntry> _entries = new(StringComparer.Ordinal);
    private readonly ServerOptions _options;
    private readonly AdapterPathResolver _paths;
    private readonly IAdapterLoader _loader;
    private readonly InferenceEngine _engine;
    private readonly ServerMetrics _metrics;
    private readonly ILogger<AdapterStore> _log;

    public AdapterStore(ServerOptions options, AdapterPathResolver paths, IAdapterLoader loader, InferenceEngine engine,
        ServerMetrics metrics, ILogger<AdapterStore> log)
    {
        _options = options;
        _paths = paths;
        _loader = loader;
        _engine = engine;
        _metrics = metrics;
        _log = log;
        Host = new HostAdapterCache(options.HostCacheBytes, metrics, engine.PostCleanup);
        metrics.Registry.AddBeforeCollectCallback(UpdateTierGauges);
    }

    public HostAdapterCache Host { get; }

    /// <summary>
    /// Pins adapter <paramref name="adapterId"/> for one request, loading it from disk if no tier holds it.
    /// Throws <see cref="AdapterNotFoundException"/> or <see cref="AdapterLoadException"/>.
    /// </summary>
    public async Task<AdapterLease> AcquireAsync(string adapterId, CancellationToken cancellationToken)
    {
        while (true)
        {
            var entry = GetOrDiscover(adapterId) ?? throw new AdapterNotFoundException(adapterId);
            Task? load;
            lock (entry.Gate)
            {
                // Unloaded between lookup and lock: look again (a fresh entry is found on disk).
                if (entry.Detached) continue;
                entry.Leases++;
                entry.Hits++;
                entry.LastUsed = DateTimeOffset.UtcNow;
                if (entry.Slot >= 0 || entry.Weights is not null)
                {
                    _metrics.AdapterHits.WithLabels(entry.Tier.Label()).Inc();
                    return new AdapterLease(entry, this);
                }
                load = entry.LoadTask ??= StartLoad(entry);
            }
            try
            {
                await load.WaitAsync(cancellationToken);
            }
            catch
            {
                Release(entry);
                throw;
            }
            return new AdapterLease(entry, this);
        }
    }

    /// <summary>
    /// Adapters.Load: loads <paramref name="adapterId"/> from <paramref name="source"/> (inside the adapter roots)
    /// at <paramref name="rank"/> or the server's target rank. Returns the entry and whether it was already loaded.
    /// </summary>
    public async Task<(AdapterSnapshot Adapter, bool AlreadyLoaded)> LoadAsync(string adapterId, string? source, int? rank,
        CancellationToken cancellationToken)
    {
        if (!AdapterPathResolver.IsValidId(adapterId))
            throw new ArgumentException($"adapter id '{adapterId}' must be letters, digits, '-', '_' or '.'");
        string directory = string.IsNullOrEmpty(source)
            ? _paths.FindById(adapterId) ?? throw new AdapterNotFoundException(adapterId)
            : _paths.ResolveSource(source);
        int targetRank = rank ?? _options.TargetRank;
        if (targetRank < 1 || targetRank > _options.TargetRank)
            throw new ArgumentException($"rank {targetRank} must be between 1 and the slot rank {_options.TargetRank}");

        if (_entries.TryGetValue(adapterId, out var existing))
        {
            var snap = existing.Snapshot();
            bool same = Path.GetFullPath(existing.SourceDirectory) == Path.GetFullPath(directory) && existing.TargetRank == targetRank;
            if (!same)
            {
                throw new InvalidOperationException(
                    $"adapter '{adapterId}' is already loaded from '{existing.SourceDirectory}' at rank {existing.TargetRank}; unload it first");
            }
            if (snap.Tier != AdapterTier.Disk) return (snap, true);
        }
        var entry = _entries.GetOrAdd(adapterId, id => new AdapterEntry(id, directory, targetRank));
        // The lease only drives the load; the reply shows the adapter as it rests afterwards (unpinned).
        (await AcquireAsync(entry.Id, cancellationToken)).Dispose();
        return (entry.Snapshot(), false);
    }

    /// <summary>
    /// Adapters.Unload: removes the adapter from the registry at once (new requests find it on disk again) and
    /// completes once its running requests have finished and its slot and host copy are freed.
    /// </summary>
    public async Task<bool> UnloadAsync(string adapterId, CancellationToken cancellationToken)
    {
        if (!_entries.TryRemove(adapterId, out var entry)) return false;
        lock (entry.Gate) entry.Detached = true;
        Host.Remove(entry);
        _engine.PostCleanup(entry);
        await entry.Drained.Task.WaitAsync(cancellationToken);
        return true;
    }

    /// <summary>The adapter's state in memory, or on disk when only found under the roots; null when unknown.</summary>
    public AdapterSnapshot? Get(string adapterId)
    {
        if (_entries.TryGetValue(adapterId, out var entry)) return entry.Snapshot();
        var dir = _paths.FindById(adapterId);
        return dir is null ? null : DiskSnapshot(adapterId, dir);
    }

    /// <summary>Adapters in memory plus those found on disk under the roots, by id.</summary>
    public IReadOnlyList<AdapterSnapshot> List()
    {
        var result = _entries.Values.Select(e => e.Snapshot()).ToDictionary(s => s.Id, StringComparer.Ordinal);
        foreach (var root in _paths.Roots)
        {
            if (!Directory.Exists(root)) continue;
            foreach (var dir in Directory.EnumerateDirectories(root))
            {
                var id = Path.GetFileName(dir);
                if (result.ContainsKey(id) || !AdapterPathResolver.IsValidId(id)) continue;
                if (!File.Exists(Path.Combine(dir, "adapter_config.json"))) continue;
                result[id] = DiskSnapshot(id, dir);
            }
        }
        return result.Values.OrderBy(s => s.Id, StringComparer.Ordinal).ToList();
    }

    /// <summary>Ends one request's hold; frees what is no longer needed on the engine thread.</summary>
    internal void Release(AdapterEntry entry)
    {
        bool cleanup;
        lock (entry.Gate)
        {
            entry.Leases--;
            Debug.Assert(entry.Leases >= 0);
            cleanup = entry.Leases == 0 && (entry.Detached || (!entry.InHostCache && entry.Weights is not null));
        }
        if (cleanup) _engine.PostCleanup(entry);
    }

    private AdapterEntry? GetOrDiscover(string adapterId)
    {
        if (_entries.TryGetValue(adapterId, out var entry)) return entry;
        var dir = _paths.FindById(adapterId);
        if (dir is null) return null;
        return _entries.GetOrAdd(adapterId, id => new AdapterEntry(id, dir, _options.TargetRank));
    }

    private Task StartLoad(AdapterEntry entry) => Task.Run(() =>
    {
        var watch = Stopwatch.StartNew();
        try
        {
            ServerLog.AdapterLoading(_log, entry.Id, entry.SourceDirectory, entry.TargetRank);
            var (weights, info) = _loader.Load(entry.Id, entry.SourceDirectory, entry.TargetRank);
            long bytes = weights.Bytes;
            lock (entry.Gate)
            {
                entry.Weights = weights;
                entry.Info = info;
                entry.Bytes = bytes;
                entry.LoadTask = null;
            }
            bool cached = Host.TryAdmit(entry, bytes);
            _metrics.AdapterLoads.WithLabels("ok").Inc();
            _metrics.AdapterHits.WithLabels("disk").Inc();
            _metrics.AdapterLoadDuration.Observe(watch.Elapsed.TotalSeconds);
            _metrics.SqueezeDuration.Observe(info.SqueezeTime.TotalSeconds);
            _metrics.RetainedEnergy.Observe(info.RetainedEnergy);
            ServerLog.AdapterLoaded(_log, entry.Id, string.Join(',', info.SourceRanks), info.TargetRank, info.RetainedEnergy,
                bytes, watch.Elapsed.TotalMilliseconds, cached);
        }
        catch (Exception ex)
        {
            lock (entry.Gate) entry.LoadTask = null;
            // Forget the failed entry so a fixed file can be loaded later; waiters release their own leases.
            _entries.TryRemove(new KeyValuePair<string, AdapterEntry>(entry.Id, entry));
            _metrics.AdapterLoads.WithLabels("error").Inc();
            var failure = ex as AdapterLoadException ?? new AdapterLoadException(entry.Id, ex.Message, ex);
            ServerLog.AdapterLoadFailed(_log, entry.Id, failure.Message);
            throw failure;
        }
    });

    private static AdapterSnapshot DiskSnapshot(string id, string dir) =>
        new(id, AdapterTier.Disk, false, 0, 0, null, 0, null, dir, -1);

    private void UpdateTierGauges()
    {
        _metrics.TierAdapters.WithLabels("host").Set(Host.Count);
        _metrics.TierBytes.WithLabels("host").Set(Host.UsedBytes);
    }

    public void Dispose() => Host.Dispose();
}
