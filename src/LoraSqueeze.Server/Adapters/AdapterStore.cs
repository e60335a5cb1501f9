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
    private readonly SemaphoreSlim _loadGate;
    private int _requestLoadWaiters;

    public AdapterStore(ServerOptions options, AdapterPathResolver paths, IAdapterLoader loader, InferenceEngine engine,
        ServerMetrics metrics, ILogger<AdapterStore> log)
    {
        _options = options;
        _paths = paths;
        _loader = loader;
        _engine = engine;
        _metrics = metrics;
        _log = log;
        _loadGate = new SemaphoreSlim(options.MaxConcurrentLoads, options.MaxConcurrentLoads);
        Host = new HostAdapterCache(options.HostCacheBytes, metrics, engine.PostCleanup);
        metrics.Registry.AddBeforeCollectCallback(UpdateTierGauges);
    }

    public HostAdapterCache Host { get; }

    /// <summary>
    /// Pins adapter <paramref name="adapterId"/> for one request, loading it from disk if no tier holds it.
    /// Throws <see cref="AdapterNotFoundException"/> or <see cref="AdapterLoadException"/>.
    /// </summary>
    public Task<AdapterLease> AcquireAsync(string adapterId, CancellationToken cancellationToken) =>
        AcquireCoreAsync(adapterId, forRequest: true, cancellationToken);

    private async Task<AdapterLease> AcquireCoreAsync(string adapterId, bool forRequest, CancellationToken cancellationToken)
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
                if (forRequest)
                {
                    entry.Hits++;
                    entry.LastUsed = DateTimeOffset.UtcNow;
                }
                if (entry.Slot >= 0 || entry.Weights is not null)
                {
                    if (forRequest) _metrics.AdapterHits.WithLabels(entry.Tier.Label()).Inc();
                    return new AdapterLease(entry, this);
                }
                load = entry.LoadTask ??= StartLoad(entry, forRequest);
            }
            // The preload yields to requests waiting on a load (PreloadAsync checks this count).
            if (forRequest) Interlocked.Increment(ref _requestLoadWaiters);
            try
            {
                await load.WaitAsync(cancellationToken);
            }
            catch
            {
                Release(entry);
                throw;
            }
            finally
            {
                if (forRequest) Interlocked.Decrement(ref _requestLoadWaiters);
            }
            return new AdapterLease(entry, this);
        }
    }

    /// <summary>
    /// Start-up preload (<see cref="ServerOptions.PreloadAdapters"/>): loads the adapters found on disk under the roots
    /// into the host tier, in id order, one at a time, until the host budget would overflow (it never evicts what it
    /// loaded itself). While a request waits on a load of its own, the preload waits, so serving never queues behind it.
    /// A broken adapter is logged and skipped (requests for it get the load error as usual).
    /// </summary>
    public async Task PreloadAsync(CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var ids = List().Where(s => s.Tier == AdapterTier.Disk).Select(s => s.Id).ToList();
        string budget = ByteSize.Format(Host.BudgetBytes);
        _metrics.PreloadPending.Set(ids.Count);
        _metrics.PreloadFinished.Set(0);
        ServerLog.PreloadStarting(_log, ids.Count, budget);
        int loaded = 0, failed = 0, done = 0;
        long largest = 0;
        string reason = "all found";
        foreach (var id in ids)
        {
            if (Host.UsedBytes + largest > Host.BudgetBytes)
            {
                reason = "host tier full";
                break;
            }
            while (Volatile.Read(ref _requestLoadWaiters) > 0) await Task.Delay(5, cancellationToken);
            try
            {
                using var lease = await AcquireCoreAsync(id, forRequest: false, cancellationToken);
                largest = Math.Max(largest, lease.Entry.Bytes);
                loaded++;
            }
            catch (Exception ex) when (ex is AdapterLoadException or AdapterNotFoundException)
            {
                failed++;   // AdapterStore.LoadNow has logged why
            }
            done++;
            _metrics.PreloadPending.Set(ids.Count - done);
            if (done % 100 == 0) ServerLog.PreloadProgress(_log, done, ids.Count, ByteSize.Format(Host.UsedBytes), budget);
        }
        _metrics.PreloadPending.Set(0);
        _metrics.PreloadFinished.Set(1);
        ServerLog.PreloadFinished(_log, loaded, failed, ids.Count - done, reason, ByteSize.Format(Host.UsedBytes), watch.Elapsed.TotalSeconds);
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

    /// <summary>
    /// Loads run on the thread pool, at most <see cref="ServerOptions.MaxConcurrentLoads"/> at once: each squeeze is
    /// itself parallel inside libtorch, and many at once on a small machine oversubscribe the cores the engine needs
    /// (measured by the load test: with 16 concurrent misses one load took 25–35 s instead of 0.1 s; docs/performance.md).
    /// </summary>
    private Task StartLoad(AdapterEntry entry, bool forRequest) => Task.Run(async () =>
    {
        await _loadGate.WaitAsync();
        try
        {
            // Torch work here must not grow OpenMP teams beside the engine's (TorchThreading says why).
            Core.Torch.TorchThreading.LimitCurrentThreadToOne();
            LoadNow(entry, forRequest);
        }
        finally
        {
            _loadGate.Release();
        }
    });

    /// <param name="forRequest">False for the start-up preload: then no request was served from disk (no "disk" hit).</param>
    private void LoadNow(AdapterEntry entry, bool forRequest)
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
            if (forRequest) _metrics.AdapterHits.WithLabels("disk").Inc();
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
    }

    private static AdapterSnapshot DiskSnapshot(string id, string dir) =>
        new(id, AdapterTier.Disk, false, 0, 0, null, 0, null, dir, -1);

    private void UpdateTierGauges()
    {
        _metrics.TierAdapters.WithLabels("host").Set(Host.Count);
        _metrics.TierBytes.WithLabels("host").Set(Host.UsedBytes);
    }

    public void Dispose() => Host.Dispose();
}
