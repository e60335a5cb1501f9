using System.Collections.Concurrent;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Engine.Execution;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// The real model runner with a pause before every step, so a generation reliably outlasts a short deadline however
/// fast the machine is, and a record of what the engine did with it: tokens per request, requests cancelled in the
/// runner, and the batch size after each call (published for the test thread; the runner itself is engine-thread only).
/// </summary>
internal sealed class SlowStepModel(IModelRunner inner, TimeSpan delay) : IModelRunner
{
    private readonly ConcurrentDictionary<long, int> _tokens = new();
    private readonly ConcurrentDictionary<long, byte> _cancelled = new();
    private readonly ManualResetEventSlim _open = new(initialState: true);
    private int _active;
    private int _peak;
    private int _holdAfterAdmissions = int.MaxValue;

    public int SlotCount => inner.SlotCount;

    public long SlotBytes => inner.SlotBytes;

    /// <summary>Engine thread: the live count. Tests read <see cref="PublishedActiveCount"/>.</summary>
    public int ActiveCount => inner.ActiveCount;

    /// <summary>Sequences in the batch after the engine's last call into the runner.</summary>
    public int PublishedActiveCount => Volatile.Read(ref _active);

    /// <summary>The most sequences one step has run since the last <see cref="ResetPeak"/>.</summary>
    public int PeakActiveCount => Volatile.Read(ref _peak);

    public void ResetPeak() => Volatile.Write(ref _peak, 0);

    /// <summary>Request ids the engine admitted.</summary>
    public ConcurrentBag<long> Admitted { get; } = [];

    public bool WasCancelled(long requestId) => _cancelled.ContainsKey(requestId);

    public int TokensFor(long requestId) => _tokens.GetValueOrDefault(requestId);

    public void Admit(SequenceState sequence)
    {
        inner.Admit(sequence);
        Admitted.Add(sequence.Id);
        Publish();
    }

    public void Release(long requestId, FinishReason reason)
    {
        inner.Release(requestId, reason);
        if (reason == FinishReason.Cancelled) _cancelled[requestId] = 0;
        Publish();
    }

    /// <summary>
    /// Holds the engine at the start of the step after the one in which the <paramref name="admissions"/>-th request
    /// was admitted, so the gauges that step published stay put until <see cref="Resume"/>, however slowly the test's
    /// scrapes run on a loaded machine. The held step waits at most 30 s, so a failing test cannot hang the engine.
    /// </summary>
    public void HoldAfterAdmissions(int admissions) => Volatile.Write(ref _holdAfterAdmissions, admissions);

    /// <summary>Lets a held engine go on; a hold set for more admissions than there have been stays armed.</summary>
    public void Resume() => _open.Set();

    /// <summary>No more holds: the engine runs freely from now on.</summary>
    public void StopHolding()
    {
        Volatile.Write(ref _holdAfterAdmissions, int.MaxValue);
        _open.Set();
    }

    public IReadOnlyList<SampledToken> Execute(ScheduledStep step)
    {
        _open.Wait(TimeSpan.FromSeconds(30));
        Thread.Sleep(delay);
        int running = step.Decode.Count + step.Prefill.Count;
        if (running > Volatile.Read(ref _peak)) Volatile.Write(ref _peak, running);
        var tokens = inner.Execute(step);
        foreach (var t in tokens) _tokens.AddOrUpdate(t.RequestId, 1, (_, n) => n + 1);
        Publish();
        if (Admitted.Count >= Volatile.Read(ref _holdAfterAdmissions)) _open.Reset();
        return tokens;
    }

    public void InstallAdapter(IReadOnlyList<int> slots, LoraWeights weights) => inner.InstallAdapter(slots, weights);

    public void ClearAdapter(int slot) => inner.ClearAdapter(slot);

    public void WarmUp(int decodeSteps) => inner.WarmUp(decodeSteps);

    private void Publish() => Volatile.Write(ref _active, inner.ActiveCount);

    public void Dispose()
    {
        _open.Set();
        _open.Dispose();
        inner.Dispose();
    }
}
