using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Engine.Execution;
using LoraSqueeze.Engine.Metrics;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;
using Microsoft.Extensions.Logging;

namespace LoraSqueeze.Engine;

/// <summary>
/// The engine thread. It alone owns the model's tensors (TorchSharp dispose scopes and inference mode are per
/// thread, and the runner holds mutable batch state), so every tensor operation — model load, prefill and decode
/// steps, adapter slot copies, freeing adapters — happens here. Front ends and the adapter manager reach it through
/// one <see cref="EngineMailbox"/> (submit, cancel, free) and read tokens back from each request's channel.
/// Continuous batching: every loop turn drains the mailbox, then runs one <see cref="EngineCore.Step"/>, whose
/// scheduler admits waiting requests into the running batch, so a new request never waits for the batch to drain;
/// requests on different adapters and on the base model share a step.
/// </summary>
public sealed class InferenceEngine : IDisposable
{
    // Requests blocked on a device slot are admitted when a lease ends; a lease of a request that never reached
    // this engine (still loading its adapter) ends without a command, so blocked turns also re-check this often.
    private static readonly TimeSpan BlockedRecheck = TimeSpan.FromMilliseconds(50);

    private readonly Func<IModelRunner> _runnerFactory;
    private readonly EngineOptions _options;
    private readonly AdapterManager _adapters;
    private readonly EngineMailbox _mailbox;
    private readonly EngineMetrics _metrics;
    private readonly ILogger<InferenceEngine> _log;
    private readonly Dictionary<long, RequestHandle> _requests = [];
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _thread;
    private EngineCore? _core;
    private int _waiting;
    private int _inFlight;
    private volatile bool _draining;
    private int _freeRows;
    private volatile bool _stopping;

    public InferenceEngine(Func<IModelRunner> runnerFactory, EngineOptions options, AdapterManager adapters, EngineMailbox mailbox,
        EngineMetrics metrics, ILogger<InferenceEngine> log)
    {
        _runnerFactory = runnerFactory;
        _options = options;
        _adapters = adapters;
        _mailbox = mailbox;
        _metrics = metrics;
        _log = log;
        _thread = new Thread(Run) { IsBackground = true, Name = "lorasqueeze-engine" };
        _freeRows = options.Scheduler.MaxBatch;
    }

    /// <summary>Completes when the model is loaded on the engine thread and warmed up (faults when either failed).</summary>
    public Task Ready => _ready.Task;

    /// <summary>True while the start-up warm-up runs (<see cref="EngineOptions.WarmupSteps"/>): loaded, not yet ready.</summary>
    public bool WarmingUp => _warmingUp;

    private volatile bool _warmingUp;

    /// <summary>Requests queued or waiting for admission.</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    public RequestLimits Limits => _options.Limits;

    /// <summary>True once the engine is draining or shutting down (or its thread has crashed): no new work is accepted.</summary>
    public bool Stopping => _stopping || _draining;

    /// <summary>Requests submitted and not yet finished (queued or running).</summary>
    public int InFlight => Volatile.Read(ref _inFlight);

    /// <summary>
    /// Stops accepting new requests (they get <see cref="EngineUnavailableException"/>, health turns 503) while the
    /// queued and running ones finish: the first half of a graceful shutdown (<see cref="WaitIdleAsync"/> is the second).
    /// </summary>
    public void BeginDrain() => _draining = true;

    /// <summary>Completes when no request is in flight, or throws when <paramref name="cancellationToken"/> fires first.</summary>
    public async Task WaitIdleAsync(CancellationToken cancellationToken)
    {
        while (InFlight > 0 && !_stopping) await Task.Delay(50, cancellationToken);
    }

    public void Start()
    {
        if (!_thread.IsAlive && !_stopping) _thread.Start();
    }

    /// <summary>
    /// Validates and queues a request; false when the queue is full (the caller answers RESOURCE_EXHAUSTED). The queue
    /// bound counts only requests that really wait: those beyond the batch rows free now (published by the engine
    /// thread each turn), so a burst on an idle server is admitted, not refused.
    /// Throws <see cref="ArgumentException"/> for a request that can never run.
    /// </summary>
    public bool TrySubmit(RequestHandle handle)
    {
        if (_stopping || !_ready.Task.IsCompletedSuccessfully)
            throw new EngineUnavailableException("the engine is not running");
        if (_draining) throw new EngineUnavailableException("the server is shutting down (draining its running requests); retry on another replica");
        _options.Limits.Validate(handle.Request);
        if ((handle.Request.AdapterId is null) != (handle.Adapter is null) ||
            (handle.Adapter is not null && handle.Adapter.AdapterId != handle.Request.AdapterId))
            throw new ArgumentException($"request {handle.Id}: its adapter lease does not match adapter '{handle.Request.AdapterId}'");
        if (Interlocked.Increment(ref _waiting) > _options.QueueLength + Volatile.Read(ref _freeRows))
        {
            Interlocked.Decrement(ref _waiting);
            return false;
        }
        handle.SubmittedAt = System.Diagnostics.Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _inFlight);
        if (!_mailbox.TryPost(new SubmitCommand(handle)))
        {
            Interlocked.Decrement(ref _waiting);
            Interlocked.Decrement(ref _inFlight);
            throw new EngineUnavailableException("the engine is not running");
        }
        _metrics.QueueDepth.Set(Waiting);
        return true;
    }

    /// <summary>Stops a request's work at once: out of the queue or the running batch on the next loop turn.</summary>
    public void Cancel(RequestHandle handle)
    {
        if (handle.MarkCancelled()) _mailbox.TryPost(new CancelCommand(handle));
    }

    private void Run()
    {
        try
        {
            var runner = _runnerFactory();
            _adapters.AttachDevice(runner.SlotCount, runner.SlotBytes);
            _core = new EngineCore(runner, new Scheduler(_options.Scheduler), _options.Limits, new LeaseReservations(this, runner));
            if (_options.WarmupSteps > 0)
            {
                // Before Ready: health stays 503 ("warming up") and nothing is admitted until the warm-up is done.
                _warmingUp = true;
                var clock = System.Diagnostics.Stopwatch.StartNew();
                try
                {
                    runner.WarmUp(_options.WarmupSteps);
                }
                catch (Exception ex)
                {
                    throw new InvalidOperationException($"the start-up warm-up ({_options.WarmupSteps} steps, Server:WarmupSteps) failed: {ex.Message}", ex);
                }
                finally
                {
                    _warmingUp = false;
                }
                _metrics.WarmupSeconds.Set(clock.Elapsed.TotalSeconds);
                EngineLog.WarmedUp(_log, _options.WarmupSteps, _options.Scheduler.MaxBatch, clock.Elapsed.TotalMilliseconds);
            }
        }
        catch (Exception ex)
        {
            EngineLog.EngineStartFailed(_log, ex.Message);
            _ready.TrySetException(ex);
            return;
        }
        _ready.TrySetResult();
        try
        {
            Loop(_core);
        }
        catch (Exception ex)
        {
            // A bug here must not take the process down silently: log it, stop accepting work, fail what is queued.
            EngineLog.EngineCrashed(_log, ex);
        }
        finally
        {
            _stopping = true;
            Shutdown(_core);
        }
    }

    private void Loop(EngineCore core)
    {
        while (!_stopping)
        {
            DrainMailbox(core);
            if (_stopping) break;
            if (core.ActiveCount == 0 && core.WaitingCount == 0)
            {
                PublishGauges(core, beforeWait: true);
                _mailbox.WaitForCommand(Timeout.InfiniteTimeSpan);
                continue;
            }
            if (!StepOnce(core))
            {
                // Nothing could run: every waiting request is blocked on a device slot.
                PublishGauges(core, beforeWait: true);
                _mailbox.WaitForCommand(BlockedRecheck);
            }
        }
    }

    private void DrainMailbox(EngineCore core)
    {
        while (_mailbox.TryRead(out var command))
        {
            switch (command)
            {
                case SubmitCommand submit:
                    var handle = submit.Request;
                    if (handle.CancelRequested)
                    {
                        Finish(handle, null, waiting: true);
                        break;
                    }
                    _requests[handle.Id] = handle;
                    core.Scheduler.Add(handle.Request);
                    break;
                case CancelCommand cancel:
                    CancelOnEngine(core, cancel.Request);
                    break;
                case DisposeWeightsCommand free:
                    free.Weights.Dispose();     // host factors nobody holds any more
                    break;
                case DrainAdapterCommand drain:
                    _adapters.Drain(drain.Record, core.Runner);
                    break;
                case WakeCommand:
                    break;
            }
        }
    }

    /// <summary>One step; false when nothing ran (no admissions possible, no running sequence).</summary>
    private bool StepOnce(EngineCore core)
    {
        if (core.ActiveCount > 0) _metrics.BatchSize.Observe(core.ActiveCount);
        StepResult result;
        try
        {
            result = core.Step();
        }
        catch (Exception ex)
        {
            var running = core.DropRunning();
            EngineLog.StepFailed(_log, ex, running.Count);
            foreach (var id in running)
            {
                if (_requests.TryGetValue(id, out var failed)) Finish(failed, ex, waiting: false);
            }
            return true;
        }
        foreach (var (request, error) in result.Rejected)
        {
            if (_requests.TryGetValue(request.Id, out var rejected)) Finish(rejected, error, waiting: true);
        }
        foreach (var id in result.Admitted)
        {
            Interlocked.Decrement(ref _waiting);
            if (_requests.TryGetValue(id, out var admitted))
                _metrics.QueueWait.Observe(System.Diagnostics.Stopwatch.GetElapsedTime(admitted.SubmittedAt).TotalSeconds);
        }
        foreach (var token in result.Events)
        {
            if (!_requests.TryGetValue(token.RequestId, out var handle)) continue;
            if (token.TokenId >= 0)
            {
                handle.Output.Writer.TryWrite(token);
                _metrics.GeneratedTokens.Inc();
            }
            if (token.Finish == FinishReason.NonFinite) Finish(handle, new NonFiniteOutputException(handle.Id, handle.Request.AdapterId), waiting: false);
            else if (token.Finish != FinishReason.None) Finish(handle, null, waiting: false);
        }
        PublishGauges(core);
        return result.TokenCount > 0 || result.Rejected.Count > 0;
    }

    private void CancelOnEngine(EngineCore core, RequestHandle handle)
    {
        var (found, wasRunning) = core.Cancel(handle.Id);
        // Not found: still in the mailbox (dropped when read) or already finished.
        if (found) Finish(handle, null, waiting: !wasRunning);
    }

    private void Finish(RequestHandle handle, Exception? error, bool waiting)
    {
        if (handle.Finished) return;
        handle.Finished = true;
        Interlocked.Decrement(ref _inFlight);
        _requests.Remove(handle.Id);
        if (waiting) Interlocked.Decrement(ref _waiting);
        if (error is null) handle.Output.Writer.TryComplete();
        else handle.Output.Writer.TryComplete(error);
        handle.Adapter?.Dispose();
    }

    /// <summary>
    /// The gauges after a step or before the engine waits; <paramref name="beforeWait"/>: the loop is about to block
    /// (idle, or every request waiting for a slot), so the LoRA series must show the state it will keep.
    /// </summary>
    private void PublishGauges(EngineCore core, bool beforeWait = false)
    {
        var limits = core.Scheduler.Options;
        Volatile.Write(ref _freeRows, limits.MaxBatch - core.ActiveCount);
        long held = 0;
        foreach (var s in core.Scheduler.Running) held += s.Prefilled + s.Generated.Count;
        _metrics.KvCacheUsage.Set((double)held / ((long)limits.MaxBatch * limits.MaxSequenceLength));
        _metrics.QueueDepth.Set(Math.Max(0, Waiting));
        _metrics.RunningRequests.Set(core.ActiveCount);
        PublishLoraInfo(core, beforeWait);
    }

    private string[]? _loraLabels;
    private long _loraPublishedAt;
    private long _loraCheckedAt;

    /// <summary>
    /// The LoRA residency series: replaced when its adapter lists change, re-stamped at most once a second otherwise.
    /// While stepping, the lists are looked at most every 50 ms (the llm-d router's scrape period), not on every turn of
    /// the engine loop, which may turn hundreds of times a second; before the loop waits they are always looked at, so
    /// the last state is never left unpublished.
    /// </summary>
    private void PublishLoraInfo(EngineCore core, bool force)
    {
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        if (!force && _loraLabels is not null && System.Diagnostics.Stopwatch.GetElapsedTime(_loraCheckedAt, now) < TimeSpan.FromMilliseconds(50)) return;
        _loraCheckedAt = now;
        var running = string.Join(',', _adapters.DeviceResidentIds());
        var waiting = string.Join(',', core.Scheduler.Waiting.Select(r => r.AdapterId).OfType<string>().Distinct(StringComparer.Ordinal));
        string[] labels = [core.Runner.SlotCount.ToString(System.Globalization.CultureInfo.InvariantCulture), running, waiting];
        bool changed = _loraLabels is null || !_loraLabels.AsSpan().SequenceEqual(labels);
        if (!changed && System.Diagnostics.Stopwatch.GetElapsedTime(_loraPublishedAt, now) < TimeSpan.FromSeconds(1)) return;
        if (changed && _loraLabels is not null) _metrics.LoraRequestsInfo.RemoveLabelled(_loraLabels);
        _metrics.LoraRequestsInfo.WithLabels(labels).Set(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
        _loraLabels = labels;
        _loraPublishedAt = now;
    }

    private void Shutdown(EngineCore? core)
    {
        var stopped = new EngineUnavailableException("the server is shutting down");
        _mailbox.Close();
        if (core is not null)
        {
            DrainMailbox(core);
            var running = core.Scheduler.Running.Select(s => s.Id).ToHashSet();
            foreach (var handle in _requests.Values.ToList()) Finish(handle, stopped, waiting: !running.Contains(handle.Id));
            core.Dispose();
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _mailbox.TryPost(new WakeCommand()); // false when the thread has already stopped
        if (_thread.IsAlive) _thread.Join(TimeSpan.FromSeconds(30));
    }

    /// <summary>Reservations for the scheduler: each request's adapter lease, answered by the adapter manager.</summary>
    private sealed class LeaseReservations(InferenceEngine engine, IModelRunner runner) : IAdapterReservations
    {
        public SlotReservation Reserve(GenerationRequest request) =>
            engine._requests.TryGetValue(request.Id, out var handle) && handle.Adapter is { } lease
                ? engine._adapters.Reserve(lease, runner)
                : SlotReservation.Failed(new InvalidOperationException($"request {request.Id} holds no adapter lease"));
    }
}

/// <summary>Wakes the engine thread (shutdown).</summary>
internal sealed record WakeCommand : EngineCommand;
