using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;
using LoraSqueeze.Model.Sampling;

namespace LoraSqueeze.Engine.Tests;

/// <summary>The scheduler alone, with no model and no tensors: admission, token budget, blocked adapters, cancel, finish.</summary>
public sealed class SchedulerTests
{
    /// <summary>Adapter answers set by the test; ids not listed are refused.</summary>
    private sealed class Reservations : IAdapterReservations
    {
        public Dictionary<string, SlotReservation> Answers { get; } = [];
        public List<long> Asked { get; } = [];

        public SlotReservation Reserve(GenerationRequest request)
        {
            Asked.Add(request.Id);
            return Answers.TryGetValue(request.AdapterId!, out var r) ? r : SlotReservation.Failed(new ArgumentException("unknown"));
        }
    }

    private static GenerationRequest Req(long id, int promptLength, string? adapter = null, int maxTokens = 4) =>
        new(id, [.. Enumerable.Range(1, promptLength)], adapter, SamplingParams.Greedy(maxTokens));

    /// <summary>What the model runner would return: one token per sampling chunk, prefill first, then decode.</summary>
    private static List<SampledToken> Sample(ScheduledStep step, int token = 7) =>
        step.Prefill.Concat(step.Decode).Where(c => c.Samples).Select(c => new SampledToken(c.Sequence.Id, token, -0.5f)).ToList();

    [Fact]
    public void Requests_are_admitted_in_arrival_order_into_free_rows()
    {
        var s = new Scheduler(new SchedulerOptions { MaxBatch = 2, MaxTokensPerStep = 64 });
        foreach (var id in new long[] { 5, 3, 9 }) s.Add(Req(id, 2));
        var step = s.Schedule(new Reservations());
        Assert.Equal(new long[] { 5, 3 }, step.Admitted.Select(q => q.Id));
        Assert.Equal(1, s.WaitingCount);
        Assert.Equal(2, s.RunningCount);
        Assert.Equal(2, step.Admitted.Select(q => q.Row).Distinct().Count());
        Assert.All(step.Admitted, q => Assert.Equal(-1, q.Slot));
    }

    [Fact]
    public void The_token_budget_runs_decodes_first_and_chunks_prefills_in_admission_order()
    {
        var s = new Scheduler(new SchedulerOptions { MaxBatch = 4, MaxTokensPerStep = 8 });
        s.Add(Req(1, 6));
        s.Add(Req(2, 6));
        var first = s.Schedule(new Reservations());
        Assert.Empty(first.Decode);
        Assert.Equal(new[] { (1L, 0, 6, true), (2L, 0, 2, false) },
            first.Prefill.Select(c => (c.Sequence.Id, c.Start, c.Count, c.Samples)));
        Assert.Equal(8, first.TokenCount);
        var events = new List<TokenEvent>();
        s.Update(first, Sample(first), events);
        Assert.Equal(new[] { 1L }, events.Select(e => e.RequestId));

        var second = s.Schedule(new Reservations());
        Assert.Equal(new[] { (1L, 6, 1) }, second.Decode.Select(c => (c.Sequence.Id, c.Start, c.Count)));
        Assert.Equal(new[] { 7 }, second.Decode[0].Tokens());                 // the token sampled last step
        Assert.Equal(new[] { (2L, 2, 4, true) }, second.Prefill.Select(c => (c.Sequence.Id, c.Start, c.Count, c.Samples)));
        Assert.Equal(new[] { 3, 4, 5, 6 }, second.Prefill[0].Tokens());
        Assert.True(second.TokenCount <= 8);
    }

    [Fact]
    public void A_request_whose_adapter_must_wait_does_not_hold_up_ready_ones()
    {
        var adapters = new Reservations();
        adapters.Answers["busy"] = SlotReservation.Wait;
        adapters.Answers["ready"] = SlotReservation.Ready(3);
        var s = new Scheduler(new SchedulerOptions { MaxBatch = 4, MaxTokensPerStep = 64 });
        s.Add(Req(1, 2, "busy"));
        s.Add(Req(2, 2, "ready"));
        s.Add(Req(3, 2));
        var step = s.Schedule(adapters);
        Assert.Equal(new long[] { 2, 3 }, step.Admitted.Select(q => q.Id));
        Assert.Equal(3, step.Admitted[0].Slot);
        Assert.Equal(1, s.WaitingCount);

        // Still blocked: asked again next step, still waiting, nothing else lost.
        s.Update(step, Sample(step), []);
        Assert.Empty(s.Schedule(adapters).Admitted);
        adapters.Answers["busy"] = SlotReservation.Ready(0);
        var later = s.Schedule(adapters);
        Assert.Equal(new long[] { 1 }, later.Admitted.Select(q => q.Id));
        Assert.Equal(0, later.Admitted[0].Slot);
        Assert.Equal(3, adapters.Asked.Count(id => id == 1));
    }

    [Fact]
    public void A_failed_adapter_rejects_its_request_only()
    {
        var adapters = new Reservations();
        var s = new Scheduler(new SchedulerOptions { MaxBatch = 4, MaxTokensPerStep = 64 });
        s.Add(Req(1, 2, "broken"));
        s.Add(Req(2, 2));
        var step = s.Schedule(adapters);
        var rejected = Assert.Single(step.Rejected);
        Assert.Equal(1, rejected.Request.Id);
        Assert.Equal("unknown", rejected.Error.Message);
        Assert.Equal(new long[] { 2 }, step.Admitted.Select(q => q.Id));
        Assert.Equal(0, s.WaitingCount);
    }

    [Fact]
    public void Cancel_removes_a_waiting_or_running_request_and_frees_its_row()
    {
        var s = new Scheduler(new SchedulerOptions { MaxBatch = 1, MaxTokensPerStep = 64 });
        s.Add(Req(1, 2));
        s.Add(Req(2, 2));
        s.Add(Req(3, 2));
        var step = s.Schedule(new Reservations());
        Assert.Equal(new long[] { 1 }, step.Admitted.Select(q => q.Id));

        Assert.Equal((true, false), s.Cancel(2));                              // waiting
        Assert.Equal((true, true), s.Cancel(1));                               // running: its row is free again
        Assert.Equal((false, false), s.Cancel(1));
        Assert.Equal(0, s.RunningCount);
        Assert.Equal(new long[] { 3 }, s.Schedule(new Reservations()).Admitted.Select(q => q.Id));
    }

    [Fact]
    public void Sequences_finish_on_eos_max_tokens_and_a_full_row_and_free_their_rows()
    {
        var s = new Scheduler(new SchedulerOptions { MaxBatch = 3, MaxTokensPerStep = 64, MaxSequenceLength = 5, EosTokenIds = [99] });
        s.Add(Req(1, 2, maxTokens: 10));   // EOS on its first token
        s.Add(Req(2, 2, maxTokens: 1));    // max tokens after one
        s.Add(Req(3, 3, maxTokens: 10));   // the row (5) is full after two
        var step = s.Schedule(new Reservations());
        var sampled = Sample(step).Select(t => t.RequestId == 1 ? t with { TokenId = 99 } : t).ToList();
        var events = new List<TokenEvent>();
        var finished = s.Update(step, sampled, events);
        Assert.Equal(new long[] { 1, 2 }, finished.Select(q => q.Id));
        Assert.Equal(FinishReason.Eos, events.Single(e => e.RequestId == 1).Finish);
        Assert.Equal(FinishReason.Length, events.Single(e => e.RequestId == 2).Finish);
        Assert.Equal(FinishReason.None, events.Single(e => e.RequestId == 3).Finish);
        Assert.True(float.IsNaN(events[0].Logprob));                          // not asked for

        var next = s.Schedule(new Reservations());
        events.Clear();
        Assert.Single(s.Update(next, Sample(next), events));
        Assert.Equal(FinishReason.Length, Assert.Single(events).Finish);
        Assert.Equal(0, s.RunningCount);
    }

    [Fact]
    public void Results_that_do_not_match_the_step_are_refused()
    {
        var s = new Scheduler(new SchedulerOptions { MaxBatch = 2, MaxTokensPerStep = 64 });
        s.Add(Req(1, 2));
        var step = s.Schedule(new Reservations());
        Assert.Throws<InvalidOperationException>(() => s.Update(step, [new SampledToken(42, 1, 0)], []));
    }
}
