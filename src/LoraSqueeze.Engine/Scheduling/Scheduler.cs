using System.Runtime.InteropServices;
using LoraSqueeze.Engine.Requests;

namespace LoraSqueeze.Engine.Scheduling;

/// <summary>
/// Continuous batching policy, with no tensors (unit-tested with no model). Requests wait in arrival order; each step
/// <see cref="Schedule"/> admits waiting requests into free KV-cache rows when their adapter has a device slot (a
/// request whose adapter must wait does not hold up those behind it), then spends the step's token budget: every
/// running decode first (one token each), then prefill chunks of admitted prompts in admission order (long prompts
/// prefill over several steps). <see cref="Update"/> appends the sampled tokens, ends sequences (EOS, stop token
/// sequence, max tokens, row full) and frees their rows. Follows vLLM's v1 scheduler split
/// (<c>vllm/v1/core/sched/scheduler.py</c>: <c>schedule</c>, <c>update_from_output</c>) at the scale of this engine.
/// One thread only (the engine thread, or the caller of an offline <see cref="Execution.EngineCore"/>).
/// </summary>
public sealed class Scheduler
{
    private readonly SchedulerOptions _options;
    private readonly LinkedList<GenerationRequest> _waiting = new();
    private readonly List<SequenceState> _running = [];
    private readonly Stack<int> _freeRows;
    private readonly HashSet<int> _eos;

    public Scheduler(SchedulerOptions options)
    {
        options.Validate();
        _options = options;
        _freeRows = new Stack<int>(Enumerable.Range(0, options.MaxBatch).Reverse());
        _eos = [.. options.EosTokenIds ?? []];
    }

    public SchedulerOptions Options => _options;

    /// <summary>Requests queued, not yet admitted.</summary>
    public int WaitingCount => _waiting.Count;

    /// <summary>Sequences admitted and not finished.</summary>
    public int RunningCount => _running.Count;

    public IReadOnlyList<SequenceState> Running => _running;

    /// <summary>Requests queued for admission, oldest first.</summary>
    public IEnumerable<GenerationRequest> Waiting => _waiting;

    /// <summary>Queues a request (validated by the caller) behind those already waiting.</summary>
    public void Add(GenerationRequest request)
    {
        if (_waiting.Any(r => r.Id == request.Id) || _running.Any(s => s.Id == request.Id))
            throw new ArgumentException($"request {request.Id} is already scheduled");
        _waiting.AddLast(request);
    }

    /// <summary>Removes a request wherever it is. Returns whether it was known and whether it held a row.</summary>
    public (bool Found, bool WasRunning) Cancel(long id)
    {
        for (var node = _waiting.First; node is not null; node = node.Next)
        {
            if (node.Value.Id != id) continue;
            _waiting.Remove(node);
            return (true, false);
        }
        int i = _running.FindIndex(s => s.Id == id);
        if (i < 0) return (false, false);
        _freeRows.Push(_running[i].Row);
        _running.RemoveAt(i);
        return (true, true);
    }

    /// <summary>Admits what can run and picks this step's chunks within the token budget.</summary>
    public ScheduledStep Schedule(IAdapterReservations adapters)
    {
        var step = new ScheduledStep();
        for (var node = _waiting.First; node is not null && _freeRows.Count > 0;)
        {
            var next = node.Next;
            var request = node.Value;
            var reservation = request.AdapterId is null ? SlotReservation.Ready(-1) : adapters.Reserve(request);
            switch (reservation.Kind)
            {
                case SlotReservationKind.Ready:
                    _waiting.Remove(node);
                    var sequence = new SequenceState(request, _freeRows.Pop(), reservation.Slot);
                    _running.Add(sequence);
                    step.Admitted.Add(sequence);
                    break;
                case SlotReservationKind.Failed:
                    _waiting.Remove(node);
                    step.Rejected.Add((request, reservation.Error!));
                    break;
                case SlotReservationKind.Wait:
                    break; // stays in line; later requests may still run
            }
            node = next;
        }

        int budget = _options.MaxTokensPerStep;
        foreach (var s in _running)
        {
            if (!s.IsPrefilled) continue;
            step.Decode.Add(new ScheduledChunk(s, s.Length - 1, 1, Samples: true));
            budget--;
        }
        foreach (var s in _running)
        {
            if (budget <= 0) break;
            if (s.IsPrefilled) continue;
            int left = s.Request.PromptTokens.Length - s.Prefilled;
            int n = Math.Min(budget, left);
            step.Prefill.Add(new ScheduledChunk(s, s.Prefilled, n, Samples: n == left));
            budget -= n;
        }
        return step;
    }

    /// <summary>
    /// Applies a step's results: <paramref name="sampled"/> holds one token per sampling chunk, prefill chunks first,
    /// then decodes (the order <see cref="Execution.IModelRunner.Execute"/> returns). Appends the token events to
    /// <paramref name="events"/> and returns the sequences that finished (their rows are free again).
    /// </summary>
    public List<SequenceState> Update(ScheduledStep step, IReadOnlyList<SampledToken> sampled, List<TokenEvent> events)
    {
        foreach (var c in step.Prefill) c.Sequence.Prefilled += c.Count;
        var finished = new List<SequenceState>();
        int k = 0;
        foreach (var c in step.Prefill.Concat(step.Decode))
        {
            if (!c.Samples) continue;
            var token = sampled[k++];
            var s = c.Sequence;
            if (token.RequestId != s.Id) throw new InvalidOperationException($"sampled token for request {token.RequestId}, expected {s.Id}");
            if (token.IsNonFinite)
            {
                events.Add(new TokenEvent(s.Id, -1, float.NaN, FinishReason.NonFinite));
                _freeRows.Push(s.Row);
                _running.Remove(s);
                finished.Add(s);
                continue;
            }
            s.Generated.Add(token.TokenId);
            var finish = FinishOf(s, token.TokenId);
            events.Add(new TokenEvent(s.Id, token.TokenId, s.Request.Sampling.Logprobs ? token.Logprob : float.NaN, finish, token.Top, token.Prompt));
            if (finish == FinishReason.None) continue;
            _freeRows.Push(s.Row);
            _running.Remove(s);
            finished.Add(s);
        }
        if (k != sampled.Count) throw new InvalidOperationException($"{sampled.Count} sampled tokens for {k} sampling chunks");
        return finished;
    }

    /// <summary>Requests still waiting (oldest first) and running: what a shutdown must fail.</summary>
    public IEnumerable<long> AllIds() => _waiting.Select(r => r.Id).Concat(_running.Select(s => s.Id));

    private FinishReason FinishOf(SequenceState s, int token)
    {
        if (_eos.Contains(token)) return FinishReason.Eos;
        if (s.Request.Sampling.StopTokenSequences is { } stops)
        {
            var generated = CollectionsMarshal.AsSpan(s.Generated);
            foreach (var stop in stops)
            {
                if (generated.Length >= stop.Length && generated[^stop.Length..].SequenceEqual(stop)) return FinishReason.Stop;
            }
        }
        if (s.Generated.Count >= s.Request.Sampling.MaxTokens) return FinishReason.Length;
        // The next decode writes the last token at position Length-1; the row must hold it.
        if (s.Length >= _options.MaxSequenceLength) return FinishReason.Length;
        return FinishReason.None;
    }
}
