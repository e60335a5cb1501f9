using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;

namespace LoraSqueeze.Engine.Execution;

/// <summary>
/// One step of the engine, synchronous: the <see cref="Scheduler"/> decides, the <see cref="IModelRunner"/> executes,
/// the scheduler applies the sampled tokens (vLLM's <c>EngineCore.step</c>). The server's engine thread drives one;
/// offline generation (the CLI, demo samples, benchmarks, tests) drives one directly on its own thread.
/// </summary>
public sealed class EngineCore : IDisposable
{
    private readonly IAdapterReservations _adapters;
    private readonly List<TokenEvent> _pendingEvents = [];

    public EngineCore(IModelRunner runner, Scheduler scheduler, RequestLimits limits, IAdapterReservations adapters)
    {
        Runner = runner;
        Scheduler = scheduler;
        Limits = limits;
        _adapters = adapters;
    }

    /// <summary>
    /// Offline use: a runner over <paramref name="model"/> (which the caller keeps and disposes), adapters in fixed
    /// slots named by <see cref="InstalledAdapters.SlotId"/>, EOS from the model config unless the options say.
    /// </summary>
    public static EngineCore ForModel(Model.CausalLM model, SchedulerOptions options)
    {
        options = options with { EosTokenIds = options.EosTokenIds ?? model.Config.EosTokenIds };
        var runner = new ModelRunner(model, options, ownsModel: false);
        var limits = new RequestLimits { VocabSize = model.Config.VocabSize, MaxSequenceLength = options.MaxSequenceLength };
        return new EngineCore(runner, new Scheduler(options), limits,
            new InstalledAdapters(slot => slot >= 0 && slot < model.Adapters.Count && model.Adapters.IsInstalled(slot)));
    }

    public IModelRunner Runner { get; }
    public Scheduler Scheduler { get; }
    public RequestLimits Limits { get; }

    /// <summary>Sequences admitted and not finished.</summary>
    public int ActiveCount => Scheduler.RunningCount;

    /// <summary>Requests queued for admission.</summary>
    public int WaitingCount => Scheduler.WaitingCount;

    /// <summary>Validates and queues a request; <see cref="ArgumentException"/> names what is wrong.</summary>
    public void Add(GenerationRequest request)
    {
        Limits.Validate(request);
        if (request.AdapterId is { } id && _adapters is InstalledAdapters fixedSlots && fixedSlots.SlotOf(id) is null)
            throw new ArgumentException($"request {request.Id}: adapter '{id}' holds no installed slot");
        Scheduler.Add(request);
    }

    /// <summary>
    /// Stops a request at once: out of the queue or the batch, its row freed. A running one's final event (token −1,
    /// <see cref="FinishReason.Cancelled"/>) comes with the next step. Returns where it was.
    /// </summary>
    public (bool Found, bool WasRunning) Cancel(long id)
    {
        var where = Scheduler.Cancel(id);
        if (where.WasRunning)
        {
            Runner.Release(id, FinishReason.Cancelled);
            _pendingEvents.Add(new TokenEvent(id, -1, float.NaN, FinishReason.Cancelled));
        }
        return where;
    }

    /// <summary>One step: admissions, one forward for the prefill chunks and one for the decodes, new tokens out.</summary>
    public StepResult Step()
    {
        var events = new List<TokenEvent>(_pendingEvents);
        _pendingEvents.Clear();
        var step = Scheduler.Schedule(_adapters);
        foreach (var s in step.Admitted) Runner.Admit(s);
        if (!step.IsEmpty)
        {
            var sampled = Runner.Execute(step);
            foreach (var done in Scheduler.Update(step, sampled, events))
                Runner.Release(done.Id, events.Last(e => e.RequestId == done.Id).Finish);
        }
        return new StepResult(events, step.Rejected, step.Admitted.Select(s => s.Id).ToList(), step.TokenCount);
    }

    /// <summary>Fails every running sequence (after a failed step): out of the scheduler and the runner.</summary>
    public IReadOnlyList<long> DropRunning()
    {
        var ids = Scheduler.Running.Select(s => s.Id).ToList();
        foreach (var id in ids)
        {
            Scheduler.Cancel(id);
            Runner.Release(id, FinishReason.Cancelled);
        }
        return ids;
    }

    public void Dispose() => Runner.Dispose();
}

/// <summary>What one step produced: token events, requests refused at admission, requests admitted, tokens fed.</summary>
public sealed record StepResult(
    IReadOnlyList<TokenEvent> Events,
    IReadOnlyList<(GenerationRequest Request, Exception Error)> Rejected,
    IReadOnlyList<long> Admitted,
    int TokenCount);
