using System.Collections.Concurrent;
using System.Threading.Channels;
using LoraSqueeze.Server.Adapters;
using LoraSqueeze.Server.Hosting;
using LoraSqueeze.Server.Metrics;
using Microsoft.Extensions.Logging;

namespace LoraSqueeze.Server.Engine;

/// <summary>
/// The engine thread. It alone owns the model's tensors (TorchSharp dispose scopes and inference mode are per
/// thread, and the model holds mutable batch state), so every tensor operation — model load, prefill and decode
/// steps, adapter slot copies, freeing adapters — happens here. gRPC handlers reach it through a bounded queue and
/// read tokens back from a per-request channel.
/// Continuous batching: between two decode steps the loop admits waiting requests into the running batch, so a new
/// request never waits for the batch to drain; requests on different adapters and on the base model share a step.
/// </summary>
public sealed class InferenceEngine : IDisposable
{
    private readonly Channel<EngineRequest> _queue =
        Channel.CreateUnbounded<EngineRequest>(); // not SingleReader: that variant cannot report its Count
    private readonly ConcurrentQueue<Action> _control = new();
    private readonly ManualResetEventSlim _wake = new(false);
    private readonly List<EngineRequest> _pending = [];
    private readonly Dictionary<long, EngineRequest> _running = [];
    private readonly Func<IGenerationModel> _modelFactory;
    private readonly ServerOptions _options;
    private readonly ServerMetrics _metrics;
    private readonly ILogger<InferenceEngine> _log;
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private IGenerationModel? _model;
    private DeviceSlotTable? _slots;
    private int _waiting;
    private long _deviceSlotBytes;
    private volatile bool _stopping;

    public InferenceEngine(Func<IGenerationModel> modelFactory, ServerOptions options, ServerMetrics metrics,
        ILogger<InferenceEngine> log)
    {
        _modelFactory = modelFactory;
        _options = options;
        _metrics = metrics;
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = "lorasqueeze-engine" };
    }

    /// <summary>Completes when the model is loaded on the engine thread (faults when loading failed).</summary>
    public Task Ready => _ready.Task;

    /// <summary>Requests queued or waiting for admission.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>Bytes held in device slots.</summary>
    public long DeviceSlotBytes => Interlocked.Read(ref _deviceSlotBytes);

    public void Start()
    {
        if (!_thread.IsAlive && !_stopping) _thread.Start();
    }

    /// <summary>Queues a request; false when the queue is full (the caller answers RESOURCE_EXHAUSTED).</summary>
    public bool TrySubmit(EngineRequest request)
    {
        if (_stopping || !_ready.Task.IsCompletedSuccessfully)
            throw new EngineUnavailableException("the engine is not running");
        if (Interlocked.Increment(ref _waiting) > _options.QueueLength)
        {
            Interlocked.Decrement(ref _waiting);
            return false;
        }
        _queue.Writer.TryWrite(request);
        _metrics.QueueDepth.Set(Waiting);
        _wake.Set();
        return true;
    }

    /// <summary>Stops a request's work at once: removed from the queue or the running batch on the next loop turn.</summary>
    public void Cancel(EngineRequest request)
    {
        if (request.MarkCancelled()) Post(() => CancelOnEngine(request));
    }

    /// <summary>
    /// Asks the engine thread to free what an adapter no longer needs (host copy after host eviction, slot and copy
    /// after unload). Safe from any thread, including MemoryCache eviction callbacks.
    /// </summary>
    public void PostCleanup(AdapterEntry entry) => Post(() => Cleanup(entry));

    private void Post(Action action)
    {
        _control.Enqueue(action);
        _wake.Set();
    }

    private void Run()
    {
        try
        {
            _model = _modelFactory();
            _slots = new DeviceSlotTable(_model.SlotCount);
            _metrics.SlotsTotal.Set(_model.SlotCount);
        }
        catch (Exception ex)
        {
            ServerLog.EngineStartFailed(_log, ex.Message);
            _ready.TrySetException(ex);
            return;
        }
        _ready.TrySetResult();
        try
        {
            Loop();
        }
        catch (Exception ex)
        {
            // A bug here must not take the process down silently: log it, stop accepting work, fail what is queued.
            ServerLog.EngineCrashed(_log, ex);
        }
        finally
        {
            _stopping = true;
            Shutdown();
        }
    }

    private void Loop()
    {
        var model = _model!;
        while (!_stopping)
        {
            _wake.Reset();
            RunControl();
            PullQueue();
            AdmitPending();
            if (model.ActiveCount == 0)
            {
                PublishGauges();
                // Requests blocked on a slot wake through a posted release; the timeout is only a safety net.
                if (_control.IsEmpty && _queue.Reader.Count == 0)
                    _wake.Wait(_pending.Count > 0 ? TimeSpan.FromMilliseconds(50) : Timeout.InfiniteTimeSpan);
                continue;
            }
            StepOnce();
        }
    }

    private void RunControl()
    {
        while (_control.TryDequeue(out var action)) action();
    }

    private void PullQueue()
    {
        while (_queue.Reader.TryRead(out var request))
        {
            if (request.CancelRequested) Complete(request, waiting: true);
            else _pending.Add(request);
        }
    }

    /// <summary>Admits waiting requests in arrival order; one blocked on a busy slot does not hold up the others.</summary>
    private void AdmitPending()
    {
        for (int i = 0; i < _pending.Count;)
        {
            var request = _pending[i];
            int slot = request.Adapter is null ? -1 : EnsureSlot(request);
            if (slot == BlockedOnSlot)
            {
                i++;
                continue;
            }
            if (slot == Failed) continue; // EnsureSlot completed it and removed it from _pending.
            var sequence = new EngineSequence(request.Id, request.PromptTokens, slot, request.Sampling);
            bool admitted;
            try
            {
                admitted = _model!.TryAdmit(sequence);
            }
            catch (Exception ex)
            {
                _pending.RemoveAt(i);
                Fail(request, ex, waiting: true);
                continue;
            }
            if (!admitted)
            {
                if (_model.ActiveCount > 0) break; // the batch is full: wait for the next step
                _pending.RemoveAt(i);
                Fail(request, new ArgumentException("the prompt does not fit in one step's token budget"), waiting: true);
                continue;
            }
            _pending.RemoveAt(i);
            Interlocked.Decrement(ref _waiting);
            _running[request.Id] = request;
        }
    }

    private const int BlockedOnSlot = -2;
    private const int Failed = -3;

    /// <summary>The request's adapter slot, installing it (evicting the least recently used unpinned one) if needed.</summary>
    private int EnsureSlot(EngineRequest request)
    {
        var entry = request.Adapter!.Entry;
        Core.Adapters.LoraWeights? weights;
        lock (entry.Gate)
        {
            if (entry.Slot >= 0)
            {
                _slots!.Touch(entry.Slot);
                return entry.Slot;
            }
            weights = entry.Weights;
        }
        if (weights is null)
        {
            // Cannot happen while the lease pins the entry; fail loudly rather than serve the wrong weights.
            _pending.Remove(request);
            Fail(request, new InvalidOperationException($"adapter '{entry.Id}' lost its weights while pinned"), waiting: true);
            return Failed;
        }
        int slot = _slots!.FindFreeOrEvictable();
        if (slot < 0) return BlockedOnSlot;
        var victim = _slots[slot];
        if (victim is not null)
        {
            lock (victim.Gate)
            {
                if (victim.Leases > 0) return BlockedOnSlot;
                victim.Slot = -1;
            }
            _slots.Free(slot);
            _metrics.AdapterEvictions.WithLabels("device").Inc();
            ServerLog.AdapterEvictedFromSlot(_log, victim.Id, slot);
            Cleanup(victim);
        }
        try
        {
            _model!.InstallAdapter(slot, weights);
        }
        catch (Exception ex)
        {
            ServerLog.InstallFailed(_log, ex, entry.Id);
            _pending.Remove(request);
            Fail(request, new AdapterLoadException(entry.Id, ex.Message, ex), waiting: true);
            return Failed;
        }
        lock (entry.Gate) entry.Slot = slot;
        _slots.Assign(slot, entry);
        ServerLog.AdapterInstalled(_log, entry.Id, slot);
        PublishGauges();
        return slot;
    }

    private void StepOnce()
    {
        var model = _model!;
        _metrics.BatchSize.Observe(model.ActiveCount);
        _metrics.RunningRequests.Set(model.ActiveCount);
        IReadOnlyList<GeneratedToken> tokens;
        try
        {
            tokens = model.Step();
        }
        catch (Exception ex)
        {
            ServerLog.StepFailed(_log, ex, _running.Count);
            foreach (var request in _running.Values.ToList())
            {
                TryCancelInModel(request.Id);
                Fail(request, ex, waiting: false);
            }
            return;
        }
        foreach (var token in tokens)
        {
            if (!_running.TryGetValue(token.RequestId, out var request)) continue;
            request.Output.Writer.TryWrite(token);
            _metrics.GeneratedTokens.Inc();
            if (token.Finish != GenerationFinish.None) Complete(request, waiting: false);
        }
    }

    private void CancelOnEngine(EngineRequest request)
    {
        if (_running.ContainsKey(request.Id))
        {
            TryCancelInModel(request.Id);
            Complete(request, waiting: false);
        }
        else if (_pending.Remove(request))
        {
            Complete(request, waiting: true);
        }
        // Otherwise it is still in the queue (dropped when pulled) or already finished.
    }

    private void TryCancelInModel(long requestId)
    {
        try
        {
            _model!.Cancel(requestId);
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or KeyNotFoundException)
        {
            // Already gone from the batch: nothing left to stop.
        }
    }

    private void Complete(EngineRequest request, bool waiting) => Finish(request, null, waiting);

    private void Fail(EngineRequest request, Exception error, bool waiting) => Finish(request, error, waiting);

    private void Finish(EngineRequest request, Exception? error, bool waiting)
    {
        if (request.Finished) return;
        request.Finished = true;
        _running.Remove(request.Id);
        if (waiting) Interlocked.Decrement(ref _waiting);
        if (error is null) request.Output.Writer.TryComplete();
        else request.Output.Writer.TryComplete(error);
        request.Adapter?.Dispose();
    }

    /// <summary>Frees an adapter's host copy and (once unloaded) its slot, when no lease holds it. Engine thread.</summary>
    private void Cleanup(AdapterEntry entry)
    {
        Core.Adapters.LoraWeights? dispose = null;
        int slotToClear = -1;
        bool drained = false;
        lock (entry.Gate)
        {
            if (entry.Leases > 0) return;
            if ((!entry.InHostCache || entry.Detached) && entry.Weights is not null)
            {
                dispose = entry.Weights;
                entry.Weights = null;
            }
            if (entry.Detached)
            {
                slotToClear = entry.Slot;
                entry.Slot = -1;
                drained = true;
            }
        }
        if (slotToClear >= 0 && _slots is not null && ReferenceEquals(_slots[slotToClear], entry))
        {
            _slots.Free(slotToClear);
            _model!.ClearAdapter(slotToClear);
        }
        dispose?.Dispose();
        PublishGauges();
        if (drained)
        {
            ServerLog.AdapterUnloaded(_log, entry.Id);
            entry.Drained.TrySetResult();
        }
    }

    private void PublishGauges()
    {
        if (_slots is null || _model is null) return;
        int used = _slots.Used;
        Interlocked.Exchange(ref _deviceSlotBytes, used * _model.SlotBytes);
        _metrics.SlotsUsed.Set(used);
        _metrics.TierAdapters.WithLabels("device").Set(used);
        _metrics.TierBytes.WithLabels("device").Set(used * _model.SlotBytes);
        _metrics.QueueDepth.Set(Waiting);
        _metrics.RunningRequests.Set(_running.Count);
    }

    private void Shutdown()
    {
        var stopped = new EngineUnavailableException("the server is shutting down");
        RunControl();
        PullQueue();
        foreach (var request in _pending.ToList()) Fail(request, stopped, waiting: true);
        _pending.Clear();
        foreach (var request in _running.Values.ToList()) Fail(request, stopped, waiting: false);
        _model?.Dispose();
    }

    public void Dispose()
    {
        _stopping = true;
        _wake.Set();
        if (_thread.IsAlive) _thread.Join(TimeSpan.FromSeconds(30));
        _wake.Dispose();
    }
}
