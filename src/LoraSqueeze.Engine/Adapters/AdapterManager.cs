using System.Collections.Concurrent;
using System.Diagnostics;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Units;
using LoraSqueeze.Engine.Execution;
using LoraSqueeze.Engine.Metrics;
using LoraSqueeze.Engine.Scheduling;
using Microsoft.Extensions.Logging;

namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// The one owner of adapter residency across tiers (device slots ← host cache ← disk), as S-LoRA's unified memory
/// manager and LoRAX's adapter loader are. Every adapter is an <see cref="AdapterRecord"/> with an explicit
/// <see cref="AdapterState"/>; every field of every record changes under one lock, here. Requests pin an adapter with an
/// <see cref="AdapterLease"/>; each load runs once however many requests wait for it, on a loader task off the engine
/// thread. Evictions are decided here: device slots in <see cref="Reserve"/> (least recently used unleased slot), the
/// host tier by its <see cref="HostAdapterCache"/>. The engine thread asks one question, <see cref="Reserve"/>, and
/// runs what this class posts to the <see cref="EngineMailbox"/> (frees: disposing weights, <see cref="Drain"/>); the
/// manager never sees the engine.
/// </summary>
public sealed class AdapterManager : IDisposable
{
    private readonly Lock _gate = new();
    private readonly ConcurrentDictionary<string, AdapterRecord> _records = new(StringComparer.Ordinal);
    private readonly AdapterManagerOptions _options;
    private readonly AdapterPathResolver _paths;
    private readonly IAdapterLoader _loader;
    private readonly EngineMailbox _mailbox;
    private readonly EngineMetrics _metrics;
    private readonly ILogger<AdapterManager> _log;
    private readonly SemaphoreSlim _loadGate;
    private readonly HostAdapterCache _host;
    private readonly ConcurrentDictionary<string, FailedLoad> _failures = new(StringComparer.Ordinal);
    private DeviceSlotTable? _slots;
    private AdapterRecord? _gathering;   // a multi-slot adapter waiting for enough slots: new installs queue behind it
    private long _slotBytes;
    private int _requestLoadWaiters;

    public AdapterManager(AdapterManagerOptions options, AdapterPathResolver paths, IAdapterLoader loader, EngineMailbox mailbox,
        EngineMetrics metrics, ILogger<AdapterManager> log)
    {
        _options = options;
        _paths = paths;
        _loader = loader;
        _mailbox = mailbox;
        _metrics = metrics;
        _log = log;
        _loadGate = new SemaphoreSlim(options.MaxConcurrentLoads, options.MaxConcurrentLoads);
        _host = new HostAdapterCache(options.HostCacheBytes, OnHostEvicted);
        metrics.Registry.AddBeforeCollectCallback(PublishHostGauges);
        metrics.HostBudgetBytes.Set(options.HostCacheBytes);
    }

    /// <summary>Host tier budget and use in bytes.</summary>
    public long HostBudgetBytes => _host.BudgetBytes;
    public long HostUsedBytes => _host.UsedBytes;
    public int HostCount => _host.Count;

    /// <summary>Engine thread, once the model is loaded: the device tier's shape.</summary>
    public void AttachDevice(int slotCount, long slotBytes)
    {
        lock (_gate)
        {
            _slots = new DeviceSlotTable(slotCount);
            _slotBytes = slotBytes;
        }
        _metrics.SlotsTotal.Set(slotCount);
        _metrics.SlotBytes.Set(slotBytes);
        PublishDeviceGauges();
    }

    /// <summary>
    /// Pins adapter <paramref name="adapterId"/> for one request, loading it from disk if no tier holds it.
    /// Throws <see cref="AdapterNotFoundException"/> or <see cref="AdapterLoadException"/>.
    /// </summary>
    public Task<AdapterLease> AcquireAsync(string adapterId, CancellationToken cancellationToken) =>
        AcquireCoreAsync(adapterId, forRequest: true, cancellationToken);

    private async Task<AdapterLease> AcquireCoreAsync(string adapterId, bool forRequest, CancellationToken cancellationToken,
        bool retryFailed = false)
    {
        while (true)
        {
            var record = GetOrDiscover(adapterId);
            if (record is null)
            {
                _paths.EnsureIdNotOutside(adapterId);
                throw new AdapterNotFoundException(adapterId);
            }
            Task load;
            lock (_gate)
            {
                // Unloaded between lookup and lock: look again (a fresh record is found on disk).
                if (record.State == AdapterState.Unloaded) continue;
                record.Leases++;
                if (forRequest)
                {
                    record.Hits++;
                    record.LastUsed = DateTimeOffset.UtcNow;
                }
                if (record.State is AdapterState.Host or AdapterState.Device)
                {
                    if (forRequest) _metrics.AdapterHits.WithLabels(record.Tier.Label()).Inc();
                    if (record.HostTicket is { } ticket) _host.Touch(ticket);
                    return new AdapterLease(record, this);
                }
                if (record.State == AdapterState.Disk)
                {
                    if (!retryFailed && RememberedFailure(record) is { } failure)
                    {
                        record.Leases--;
                        throw failure;
                    }
                    record.MoveTo(AdapterState.Loading);
                    record.LoadTask = StartLoad(record, forRequest);
                }
                load = record.LoadTask!;
            }
            // The preload yields to requests waiting on a load (PreloadAsync checks this count).
            if (forRequest) Interlocked.Increment(ref _requestLoadWaiters);
            try
            {
                await load.WaitAsync(cancellationToken);
            }
            catch
            {
                Release(record);
                throw;
            }
            finally
            {
                if (forRequest) Interlocked.Decrement(ref _requestLoadWaiters);
            }
            return new AdapterLease(record, this);
        }
    }

    /// <summary>
    /// Start-up preload: loads the adapters found on disk under the roots into the host tier, in id order, one at a
    /// time, until the host budget would overflow (it never evicts what it loaded itself). While a request waits on a
    /// load of its own, the preload waits, so serving never queues behind it. A broken adapter is logged and skipped
    /// (requests for it get the load error as usual).
    /// </summary>
    public async Task PreloadAsync(CancellationToken cancellationToken)
    {
        var watch = Stopwatch.StartNew();
        var ids = List().Where(s => s.Tier == AdapterTier.Disk).Select(s => s.Id).ToList();
        string budget = ByteSize.Format(_host.BudgetBytes);
        _metrics.PreloadPending.Set(ids.Count);
        _metrics.PreloadFinished.Set(0);
        EngineLog.PreloadStarting(_log, ids.Count, budget);
        int loaded = 0, failed = 0, done = 0;
        long largest = 0;
        string reason = "all found";
        foreach (var id in ids)
        {
            if (_host.UsedBytes + largest > _host.BudgetBytes)
            {
                reason = "host tier full";
                break;
            }
            while (Volatile.Read(ref _requestLoadWaiters) > 0) await Task.Delay(5, cancellationToken);
            try
            {
                using var lease = await AcquireCoreAsync(id, forRequest: false, cancellationToken);
                lock (_gate) largest = Math.Max(largest, lease.Record.Bytes);
                loaded++;
            }
            catch (Exception ex) when (ex is AdapterLoadException or AdapterNotFoundException)
            {
                failed++;   // LoadNow has logged why
            }
            done++;
            _metrics.PreloadPending.Set(ids.Count - done);
            if (done % 100 == 0) EngineLog.PreloadProgress(_log, done, ids.Count, ByteSize.Format(_host.UsedBytes), budget);
        }
        _metrics.PreloadPending.Set(0);
        _metrics.PreloadFinished.Set(1);
        EngineLog.PreloadFinished(_log, loaded, failed, ids.Count - done, reason, ByteSize.Format(_host.UsedBytes), watch.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// Adapters.Load: loads <paramref name="adapterId"/> from <paramref name="source"/> (inside the adapter roots)
    /// at <paramref name="rank"/> or the server's target rank. Returns the adapter and whether it was already loaded.
    /// </summary>
    public async Task<(AdapterSnapshot Adapter, bool AlreadyLoaded)> LoadAsync(string adapterId, string? source, int? rank,
        CancellationToken cancellationToken)
    {
        if (!AdapterPathResolver.IsValidId(adapterId))
            throw new ArgumentException($"adapter id {AdapterPathResolver.Quote(adapterId)} must be 1 to 128 letters, digits, '-', '_' or '.'");
        string directory = string.IsNullOrEmpty(source)
            ? _paths.FindById(adapterId) ?? throw new AdapterNotFoundException(adapterId)
            : _paths.ResolveSource(source);
        int targetRank = rank ?? _options.TargetRank;
        if (targetRank < 1 || targetRank > _options.TargetRank)
            throw new ArgumentException($"rank {targetRank} must be between 1 and the slot rank {_options.TargetRank}");

        if (_records.TryGetValue(adapterId, out var existing))
        {
            bool same = Path.GetFullPath(existing.SourceDirectory) == Path.GetFullPath(directory) && existing.TargetRank == targetRank;
            if (!same)
            {
                throw new InvalidOperationException(
                    $"adapter '{adapterId}' is already loaded from '{existing.SourceDirectory}' at rank {existing.TargetRank}; unload it first");
            }
            var snap = Snapshot(existing);
            if (snap.Tier != AdapterTier.Disk) return (snap, true);
        }
        var record = _records.GetOrAdd(adapterId, id => new AdapterRecord(id, directory, targetRank));
        // The lease only drives the load; the reply shows the adapter as it rests afterwards (unpinned). An explicit Load
        // (admin) always reads the files again, even when a recent load of the same files failed.
        (await AcquireCoreAsync(record.Id, forRequest: true, cancellationToken, retryFailed: true)).Dispose();
        return (Snapshot(record), false);
    }

    /// <summary>
    /// Adapters.Unload: removes the adapter from the registry at once (new requests find it on disk again) and
    /// completes once its running requests have finished and its slot and host copy are freed.
    /// </summary>
    public async Task<bool> UnloadAsync(string adapterId, CancellationToken cancellationToken)
    {
        if (!_records.TryRemove(adapterId, out var record)) return false;
        bool drainNow;
        lock (_gate)
        {
            record.MoveTo(AdapterState.Unloaded);
            if (record.HostTicket is { } ticket) _host.Remove(ticket);
            record.HostTicket = null;
            drainNow = record.Leases == 0;
        }
        if (drainNow) _mailbox.TryPost(new DrainAdapterCommand(record));
        await record.Drained.Task.WaitAsync(cancellationToken);
        return true;
    }

    /// <summary>
    /// The folder adapter <paramref name="adapterId"/> is (or would be) loaded from: its record's source when it is in
    /// memory, else its folder under the roots; null when unknown. Refuses ids whose folder links outside the roots.
    /// </summary>
    public string? SourceDirectory(string adapterId)
    {
        if (_records.TryGetValue(adapterId, out var record)) return record.SourceDirectory;
        _paths.EnsureIdNotOutside(adapterId);
        return _paths.FindById(adapterId);
    }

    /// <summary>Ids of the adapters in device slots now, in head-slot order (the gateways' "running" LoRA adapters).</summary>
    public IReadOnlyList<string> DeviceResidentIds()
    {
        lock (_gate)
        {
            if (_slots is null) return [];
            var ids = new List<string>(_slots.Adapters);
            for (int i = 0; i < _slots.Count; i++)
            {
                if (_slots[i] is { } record && record.Slot == i) ids.Add(record.Id);   // a multi-slot adapter once, at its head
            }
            return ids;
        }
    }

    /// <summary>The adapter's state in memory, or on disk when only found under the roots; null when unknown.</summary>
    public AdapterSnapshot? Get(string adapterId)
    {
        if (_records.TryGetValue(adapterId, out var record)) return Snapshot(record);
        _paths.EnsureIdNotOutside(adapterId);
        var dir = _paths.FindById(adapterId);
        return dir is null ? null : DiskSnapshot(adapterId, dir);
    }

    /// <summary>Adapters in memory plus those found on disk under the roots, by id.</summary>
    public IReadOnlyList<AdapterSnapshot> List()
    {
        var result = _records.Values.Select(Snapshot).ToDictionary(s => s.Id, StringComparer.Ordinal);
        foreach (var root in _paths.Roots)
        {
            if (!Directory.Exists(root)) continue;
            foreach (var dir in Directory.EnumerateDirectories(root))
            {
                var id = Path.GetFileName(dir);
                if (result.ContainsKey(id) || !AdapterPathResolver.IsValidId(id)) continue;
                if (!File.Exists(Path.Combine(dir, "adapter_config.json"))) continue;
                // Only what can be served: a folder that links outside the roots is not listed (Get refuses it by name).
                var servable = _paths.FindById(id);
                if (servable is null) continue;
                result[id] = DiskSnapshot(id, servable);
            }
        }
        return result.Values.OrderBy(s => s.Id, StringComparer.Ordinal).ToList();
    }

    /// <summary>
    /// Engine thread: the device slots for the adapter <paramref name="lease"/> pins (one, or k for an adapter the energy
    /// floor squeezed to k·r), installing its factors through <paramref name="device"/> (evicting least recently used
    /// unleased adapters) if it has none; Wait while too few slots are free or evictable. Ready carries the head slot.
    /// </summary>
    public SlotReservation Reserve(AdapterLease lease, IModelRunner device)
    {
        var record = lease.Record;
        LoraWeights weights;
        int[] chosen;
        lock (_gate)
        {
            var slots = _slots ?? throw new InvalidOperationException("the device tier is not attached");
            if (record.Slots.Length > 0)
            {
                slots.Touch(record.Slots);
                return SlotReservation.Ready(record.Slot);
            }
            // Slots free one at a time as requests finish; left alone, one-slot adapters would take each freed slot and
            // an adapter needing k could wait for ever. While one is gathering its k slots, installs of other adapters
            // wait behind it (first come, first served). Adapters already on the device keep being served: holding
            // them back would deadlock, since a queued request's lease pins the very slots the gatherer waits for.
            if (_gathering is { } first && !ReferenceEquals(first, record))
            {
                if (first.Leases > 0 && first.Slots.Length == 0 && first.State != AdapterState.Unloaded) return SlotReservation.Wait;
                _gathering = null;   // its requests ended, or it was unloaded
            }
            if (record.Weights is null)
            {
                // Cannot happen while the lease pins the record; fail loudly rather than serve the wrong weights.
                return SlotReservation.Failed(new InvalidOperationException($"adapter '{record.Id}' lost its weights while pinned"));
            }
            int needed = record.SlotsNeeded;
            if (needed > slots.Count)
            {
                return SlotReservation.Failed(new AdapterLoadException(record.Id,
                    $"it needs {needed} device slots and the server has {slots.Count} (--max-slots-per-adapter must not exceed --slots)"));
            }
            weights = record.Weights;
            var found = slots.Find(needed, out var victims);
            if (found is null)
            {
                if (needed > 1) _gathering = record;
                return SlotReservation.Wait;
            }
            if (ReferenceEquals(_gathering, record)) _gathering = null;
            chosen = found;
            foreach (var victim in victims)
            {
                var freed = victim.Slots;
                slots.Free(freed, victim);
                victim.Slots = [];
                if (victim.State == AdapterState.Device) victim.MoveTo(victim.Weights is null ? AdapterState.Disk : AdapterState.Host);
                _metrics.AdapterEvictions.WithLabels("device").Inc();
                EngineLog.AdapterEvictedFromSlot(_log, victim.Id, string.Join(',', freed));
            }
            slots.Assign(chosen, record);
        }
        try
        {
            // Outside the lock: the lease keeps the factors alive, and only this thread changes slots.
            device.InstallAdapter(chosen, weights);
        }
        catch (Exception ex)
        {
            lock (_gate) _slots!.Free(chosen, record);
            EngineLog.InstallFailed(_log, ex, record.Id);
            PublishDeviceGauges();
            return SlotReservation.Failed(new AdapterLoadException(record.Id, ex.Message, ex));
        }
        lock (_gate)
        {
            record.Slots = chosen;
            if (record.State == AdapterState.Host) record.MoveTo(AdapterState.Device);
        }
        EngineLog.AdapterInstalled(_log, record.Id, string.Join(',', chosen));
        PublishDeviceGauges();
        return SlotReservation.Ready(chosen[0]);
    }

    /// <summary>Engine thread: an unloaded adapter's last lease ended; free its slots and factors and report it drained.</summary>
    public void Drain(AdapterRecord record, IModelRunner device)
    {
        int head;
        LoraWeights? weights;
        lock (_gate)
        {
            if (record.State != AdapterState.Unloaded || record.Leases > 0) return;
            var held = record.Slots;
            head = record.Slot;
            record.Slots = [];
            weights = record.Weights;
            record.Weights = null;
            if (head >= 0 && _slots is not null && ReferenceEquals(_slots[head], record)) _slots.Free(held, record);
            else head = -1;
        }
        if (head >= 0) device.ClearAdapter(head);
        weights?.Dispose();
        PublishDeviceGauges();
        EngineLog.AdapterUnloaded(_log, record.Id);
        record.Drained.TrySetResult();
    }

    /// <summary>Ends one request's hold; what nobody holds any more is freed on the engine thread.</summary>
    internal void Release(AdapterRecord record)
    {
        EngineCommand? free = null;
        lock (_gate)
        {
            record.Leases--;
            Debug.Assert(record.Leases >= 0);
            if (record.Leases > 0) return;
            if (record.State == AdapterState.Unloaded) free = new DrainAdapterCommand(record);
            else if (!record.HostCopy && record.Weights is { } weights && record.State is AdapterState.Host or AdapterState.Device)
            {
                record.Weights = null;
                if (record.State == AdapterState.Host) record.MoveTo(AdapterState.Disk);
                free = new DisposeWeightsCommand(weights);
            }
        }
        if (free is not null) _mailbox.TryPost(free);
    }

    /// <summary>The host tier dropped an admission (thread pool): the record loses its host copy.</summary>
    private void OnHostEvicted(HostTicket ticket, bool toMakeRoom)
    {
        var record = ticket.Record;
        EngineCommand? free = null;
        lock (_gate)
        {
            if (!ReferenceEquals(record.HostTicket, ticket)) return; // unloaded, or a later admission
            record.HostTicket = null;
            if (toMakeRoom) _metrics.AdapterEvictions.WithLabels("host").Inc();
            if (record.Leases == 0 && record.Weights is { } weights)
            {
                record.Weights = null;
                if (record.State == AdapterState.Host) record.MoveTo(AdapterState.Disk);
                free = new DisposeWeightsCommand(weights);
            }
        }
        if (free is not null) _mailbox.TryPost(free);
    }

    private AdapterRecord? GetOrDiscover(string adapterId)
    {
        if (_records.TryGetValue(adapterId, out var record)) return record;
        var dir = _paths.FindById(adapterId);
        if (dir is null) return null;
        return _records.GetOrAdd(adapterId, id => new AdapterRecord(id, dir, _options.TargetRank));
    }

    /// <summary>
    /// Loads run on the thread pool, at most <see cref="AdapterManagerOptions.MaxConcurrentLoads"/> at once: each squeeze
    /// is itself parallel inside libtorch, and many at once on a small machine oversubscribe the cores the engine needs
    /// (measured by the load test: with 16 concurrent misses one load took 25–35 s instead of 0.1 s; docs/performance.md).
    /// </summary>
    private Task StartLoad(AdapterRecord record, bool forRequest) => Task.Run(async () =>
    {
        await _loadGate.WaitAsync();
        try
        {
            // Torch work here must not grow OpenMP teams beside the engine's (TorchThreading says why).
            Core.Torch.TorchThreading.LimitCurrentThreadToOne();
            LoadNow(record, forRequest);
        }
        finally
        {
            _loadGate.Release();
        }
    });

    /// <param name="forRequest">False for the start-up preload: then no request was served from disk (no "disk" hit).</param>
    private void LoadNow(AdapterRecord record, bool forRequest)
    {
        var watch = Stopwatch.StartNew();
        LoraWeights weights;
        AdapterLoadInfo info;
        try
        {
            EngineLog.AdapterLoading(_log, record.Id, record.SourceDirectory, record.TargetRank);
            try
            {
                _paths.EnsureFilesInside(record.SourceDirectory);
            }
            catch (AdapterFormatException ex)
            {
                throw new AdapterLoadException(record.Id, ex.Message, ex);
            }
            (weights, info) = _loader.Load(record.Id, record.SourceDirectory, record.TargetRank);
        }
        catch (Exception ex)
        {
            lock (_gate)
            {
                record.LoadTask = null;
                if (record.State == AdapterState.Loading) record.MoveTo(AdapterState.Disk);
            }
            // Forget the failed record so a fixed file can be loaded later; waiters release their own leases.
            _records.TryRemove(new KeyValuePair<string, AdapterRecord>(record.Id, record));
            _metrics.AdapterLoads.WithLabels("error").Inc();
            var failure = ex as AdapterLoadException ?? new AdapterLoadException(record.Id, ex.Message, ex);
            if (failure.BelowEnergyFloor) _metrics.BelowEnergyFloor.WithLabels("refused").Inc();
            _failures[record.SourceDirectory] = new FailedLoad(FailedLoad.Fingerprint(record.SourceDirectory), failure, DateTime.UtcNow);
            EngineLog.AdapterLoadFailed(_log, record.Id, failure.Message);
            throw failure;
        }
        _failures.TryRemove(record.SourceDirectory, out _);
        long bytes = weights.Bytes;
        bool cached;
        lock (_gate)
        {
            record.Weights = weights;
            record.Info = info;
            record.Bytes = bytes;
            record.LoadTask = null;
            if (record.State == AdapterState.Loading) record.MoveTo(AdapterState.Host);
            var ticket = new HostTicket(record);
            cached = record.State != AdapterState.Unloaded && _host.TryAdmit(ticket, bytes, mayEvict: forRequest);
            if (cached) record.HostTicket = ticket;
        }
        _metrics.AdapterLoads.WithLabels("ok").Inc();
        if (forRequest) _metrics.AdapterHits.WithLabels("disk").Inc();
        _metrics.AdapterLoadDuration.Observe(watch.Elapsed.TotalSeconds);
        _metrics.SqueezeDuration.Observe(info.SqueezeTime.TotalSeconds);
        _metrics.RetainedEnergy.Observe(info.RetainedEnergy);
        _metrics.MinRetainedEnergy.Observe(info.MinRetainedEnergy);
        _metrics.SlotsPerAdapter.Observe(info.Slots);
        if (info.BelowFloor)
        {
            _metrics.BelowEnergyFloor.WithLabels("served_at_cap").Inc();
            EngineLog.AdapterBelowEnergyFloor(_log, record.Id, info.MinRetainedEnergy, info.TargetRank, info.Slots, _options.MinRetainedEnergy ?? 0);
        }
        EngineLog.AdapterLoaded(_log, record.Id, string.Join(',', info.SourceRanks), info.TargetRank, info.RetainedEnergy,
            bytes, watch.Elapsed.TotalMilliseconds, cached);
    }

    /// <summary>
    /// A recent failed load of the same files (same names, sizes and modification times), answered again without
    /// reading them: requests need no token, so without this anyone could make the server re-read a broken 2 GiB
    /// adapter over and over. Changing any file, or <see cref="FailedLoad.Memory"/> passing, allows a new attempt;
    /// an explicit Adapters.Load always retries.
    /// </summary>
    private AdapterLoadException? RememberedFailure(AdapterRecord record)
    {
        if (!_failures.TryGetValue(record.SourceDirectory, out var failed)) return null;
        if (DateTime.UtcNow - failed.At > FailedLoad.Memory || failed.Files != FailedLoad.Fingerprint(record.SourceDirectory))
        {
            _failures.TryRemove(record.SourceDirectory, out _);
            return null;
        }
        _metrics.AdapterLoads.WithLabels("remembered_error").Inc();
        return new AdapterLoadException(record.Id,
            $"{failed.Error.Message.Split(": ", 2)[^1]} (a load of these same files failed {(DateTime.UtcNow - failed.At).TotalSeconds:F0} s ago; change them to retry)",
            failed.Error);
    }

    private AdapterSnapshot Snapshot(AdapterRecord record)
    {
        lock (_gate) return record.Snapshot();
    }

    private static AdapterSnapshot DiskSnapshot(string id, string dir) =>
        new(id, AdapterTier.Disk, false, 0, 0, null, 0, null, dir, -1);

    private void PublishHostGauges()
    {
        _metrics.TierAdapters.WithLabels("host").Set(_host.Count);
        _metrics.TierBytes.WithLabels("host").Set(_host.UsedBytes);
    }

    private void PublishDeviceGauges()
    {
        int used, adapters;
        lock (_gate) (used, adapters) = (_slots?.Used ?? 0, _slots?.Adapters ?? 0);
        _metrics.SlotsUsed.Set(used);
        _metrics.TierAdapters.WithLabels("device").Set(adapters);
        _metrics.TierBytes.WithLabels("device").Set(used * _slotBytes);
    }

    public void Dispose() => _host.Dispose();
}
