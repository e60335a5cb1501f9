using LoraSqueeze.Engine.Execution;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Reference;
using LoraSqueeze.Model.Sampling;
using LoraSqueeze.Testing;
using static TorchSharp.torch;

namespace LoraSqueeze.Engine.Tests;

/// <summary>
/// The engine core (scheduler + model runner) on a real tiny model: continuous batching, finish reasons, seeds
/// independent of the batch. (These were the model runtime's BatchGenerator tests; the assertions are unchanged.)
/// </summary>
public sealed class GenerationTests : IDisposable
{
    private readonly CausalLM _model;

    public GenerationTests()
    {
        _model = TestModels.WriteAndLoad(TinyModelSpec.Llama with { EosTokenId = 95 }, new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 3 }, "gen");
        using var a = TinyModelFactory.RandomAdapter(_model, "a", 4, 21);
        using var b = TinyModelFactory.RandomAdapter(_model, "b", 4, 22);
        _model.Adapters.Install(0, a);
        _model.Adapters.Install(2, b);
    }

    public void Dispose() => _model.Dispose();

    /// <summary>A request on adapter slot <paramref name="slot"/> (−1: the base model).</summary>
    private static GenerationRequest Req(long id, int[] prompt, int slot, SamplingParams sampling) =>
        new(id, prompt, slot < 0 ? null : InstalledAdapters.SlotId(slot), sampling);

    private static List<TokenEvent> RunToEnd(EngineCore g, int maxSteps = 200)
    {
        var all = new List<TokenEvent>();
        for (int i = 0; i < maxSteps && (g.ActiveCount > 0 || g.WaitingCount > 0); i++) all.AddRange(g.Step().Events);
        Assert.Equal(0, g.ActiveCount);
        return all;
    }

    private static int[] TokensOf(IEnumerable<TokenEvent> events, long id) => events.Where(e => e.RequestId == id && e.TokenId >= 0).Select(e => e.TokenId).ToArray();

    /// <summary>
    /// The start-up warm-up (<see cref="IModelRunner.WarmUp"/>) writes every cache row and runs steps at the full batch
    /// and at one row, and leaves nothing that changes what requests get: the same tokens and log-probabilities, greedy
    /// and seeded, on adapters and the base, as without it — with more warm-up steps than the cache holds (they are fitted).
    /// It refuses to run once a request is admitted.
    /// </summary>
    [Fact]
    public void AWarmUpLeavesNothingThatChangesTheRequests()
    {
        var opts = new SchedulerOptions { MaxBatch = 3, MaxTokensPerStep = 8, MaxSequenceLength = 32, EosTokenIds = [] };
        int[][] prompts = [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [30, 31], [44, 45, 46]];
        int[] slots = [0, -1, 2];
        List<TokenEvent> Run(int warmup)
        {
            using var g = EngineCore.ForModel(_model, opts);
            if (warmup > 0) g.Runner.WarmUp(warmup);
            Assert.Equal(0, g.Runner.ActiveCount);
            for (int i = 0; i < 3; i++)
                g.Add(Req(i, prompts[i], slots[i], i == 1 ? SamplingParams.Greedy(6) : new SamplingParams(Temperature: 0.9f, Seed: 40 + i, MaxTokens: 6)));
            var events = RunToEnd(g);
            if (warmup > 0)
            {
                g.Add(Req(9, [1, 2], -1, SamplingParams.Greedy(3)));
                g.Step();
                Assert.Throws<InvalidOperationException>(() => g.Runner.WarmUp(1));
            }
            return events;
        }
        var cold = Run(0);
        var warm = Run(40);
        for (int i = 0; i < 3; i++)
        {
            Assert.Equal(6, TokensOf(cold, i).Length);
            Assert.Equal(TokensOf(cold, i), TokensOf(warm, i));
            Assert.Equal(cold.Where(e => e.RequestId == i && e.TokenId >= 0).Select(e => e.Logprob),
                warm.Where(e => e.RequestId == i && e.TokenId >= 0).Select(e => e.Logprob));
        }
    }

    [Fact]
    public void GreedyMatchesTheReferenceArgmaxPerAdapter()
    {
        var opts = new SchedulerOptions { MaxBatch = 4, MaxTokensPerStep = 8, MaxSequenceLength = 32, EosTokenIds = [] };
        using var g = EngineCore.ForModel(_model, opts);
        int[][] prompts = [[5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15], [30, 31], [44, 45, 46]];
        int[] slots = [0, -1, 2];
        for (int i = 0; i < 3; i++) g.Add(Req(i, prompts[i], slots[i], SamplingParams.Greedy(6)));
        var events = RunToEnd(g);
        for (int i = 0; i < 3; i++)
        {
            var got = TokensOf(events, i);
            var seq = prompts[i].ToList();
            for (int k = 0; k < 6; k++)
            {
                using var scope = NewDisposeScope();
                seq.Add((int)ReferenceDecoder.Logits(_model, [.. seq], slots[i])[^1].argmax().item<long>());
            }
            Assert.Equal(seq.Skip(prompts[i].Length).ToArray(), got);
            Assert.Equal(FinishReason.Length, events.Last(e => e.RequestId == i).Finish);
            Assert.All(events.Where(e => e.RequestId == i).SkipLast(1), e => Assert.Equal(FinishReason.None, e.Finish));
        }
    }

    [Fact]
    public void SeededSamplingIsTheSameAloneAndInABusyBatch()
    {
        var sampling = new SamplingParams(Temperature: 0.9f, TopP: 0.9f, TopK: 20, RepetitionPenalty: 1.3f, Seed: 1234, MaxTokens: 12, Logprobs: true);
        var opts = new SchedulerOptions { MaxBatch = 6, MaxTokensPerStep = 64, MaxSequenceLength = 64, EosTokenIds = [] };
        int[] prompt = [7, 8, 9, 10];
        List<TokenEvent> alone;
        using (var g = EngineCore.ForModel(_model, opts))
        {
            g.Add(Req(1, prompt, 2, sampling));
            alone = RunToEnd(g);
        }
        List<TokenEvent> busy = [];
        using (var g = EngineCore.ForModel(_model, opts))
        {
            g.Add(Req(10, [1, 2, 3, 4, 5, 6], 0, sampling with { Seed = 5 }));
            g.Add(Req(11, [40, 41], -1, sampling with { Seed = null }));
            busy.AddRange(g.Step().Events);
            busy.AddRange(g.Step().Events);
            g.Add(Req(1, prompt, 2, sampling));     // joins a running batch mid-flight
            g.Add(Req(12, [60, 61, 62], 2, SamplingParams.Greedy(3)));
            busy.AddRange(RunToEnd(g));
        }
        var a = alone.Where(e => e.RequestId == 1).ToList();
        var b = busy.Where(e => e.RequestId == 1).ToList();
        Assert.Equal(12, a.Count);
        Assert.Equal(a.Select(e => e.TokenId), b.Select(e => e.TokenId));
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i].Logprob, b[i].Logprob, 1e-4f);
        Assert.All(a, e => Assert.True(e.Logprob <= 0 && !float.IsNaN(e.Logprob)));
        // A different seed gives a different continuation (the seed really matters).
        using var g2 = EngineCore.ForModel(_model, opts);
        g2.Add(Req(1, prompt, 2, sampling with { Seed = 99 }));
        Assert.NotEqual(a.Select(e => e.TokenId), RunToEnd(g2).Select(e => e.TokenId));
    }

    [Fact]
    public void ChunkedPrefillGivesTheSameTokens()
    {
        int[] prompt = [.. Enumerable.Range(3, 20)];
        int[] Run(int budget)
        {
            using var g = EngineCore.ForModel(_model, new SchedulerOptions { MaxBatch = 2, MaxTokensPerStep = budget, MaxSequenceLength = 40, EosTokenIds = [] });
            g.Add(Req(1, prompt, 0, SamplingParams.Greedy(5)));
            return TokensOf(RunToEnd(g), 1);
        }
        Assert.Equal(Run(64), Run(3));
    }

    [Fact]
    public void FinishReasonsEosStopLengthAndCancel()
    {
        var opts = new SchedulerOptions { MaxBatch = 2, MaxTokensPerStep = 32, MaxSequenceLength = 12, EosTokenIds = [] };
        // Learn the greedy continuation, then use its tokens as EOS / stop sequence.
        int[] prompt = [5, 6, 7];
        int[] greedy;
        using (var g = EngineCore.ForModel(_model, opts))
        {
            g.Add(Req(1, prompt, -1, SamplingParams.Greedy(20)));
            var ev = RunToEnd(g);
            greedy = TokensOf(ev, 1);
            Assert.Equal(9, greedy.Length);                                   // MaxSequenceLength 12 − prompt 3
            Assert.Equal(FinishReason.Length, ev[^1].Finish);
        }
        using (var g = EngineCore.ForModel(_model, opts with { EosTokenIds = [greedy[2]] }))
        {
            g.Add(Req(1, prompt, -1, SamplingParams.Greedy(20)));
            var ev = RunToEnd(g);
            int firstEos = Array.IndexOf(greedy, greedy[2]);
            Assert.Equal(greedy[..(firstEos + 1)], TokensOf(ev, 1));
            Assert.Equal(FinishReason.Eos, ev[^1].Finish);
        }
        using (var g = EngineCore.ForModel(_model, opts))
        {
            var stop = new[] { greedy[3], greedy[4] };
            g.Add(Req(1, prompt, -1, SamplingParams.Greedy(20) with { StopTokenSequences = [stop, [94, 94, 94]] }));
            var ev = RunToEnd(g);
            var got = TokensOf(ev, 1);
            Assert.Equal(stop, got[^2..]);
            Assert.True(got.Length <= 5);
            Assert.Equal(FinishReason.Stop, ev[^1].Finish);
        }
        using (var g = EngineCore.ForModel(_model, opts))
        {
            g.Add(Req(1, prompt, 0, SamplingParams.Greedy(20)));
            g.Add(Req(2, prompt, 2, SamplingParams.Greedy(20)));
            g.Step();
            g.Add(Req(3, prompt, -1, SamplingParams.Greedy(2)));
            Assert.Empty(g.Step().Admitted);                                                      // full: 3 waits
            Assert.Equal(new[] { 0, 2 }, g.Scheduler.Running.Select(s => s.Slot).Order());
            g.Cancel(1);
            Assert.Equal(1, g.ActiveCount);
            Assert.Equal(new[] { 2 }, g.Scheduler.Running.Select(s => s.Slot));
            var step = g.Step();
            Assert.Equal(new[] { 3L }, step.Admitted);                                            // takes the freed row
            var ev = step.Events;
            Assert.Contains(new TokenEvent(1, -1, float.NaN, FinishReason.Cancelled), ev);
            Assert.DoesNotContain(ev, e => e.RequestId == 1 && e.TokenId >= 0);
            var rest = RunToEnd(g);
            Assert.Equal(2, TokensOf(ev.Concat(rest), 3).Length);
        }
    }

    [Fact]
    public void BadRequestsAreRefused()
    {
        using var g = EngineCore.ForModel(_model, new SchedulerOptions { MaxBatch = 2, MaxTokensPerStep = 8, MaxSequenceLength = 8 });
        Assert.Throws<ArgumentException>(() => g.Add(Req(1, [], -1, new SamplingParams())));
        Assert.Throws<ArgumentException>(() => g.Add(Req(1, [1, 2, 3, 4, 5, 6, 7, 8], -1, new SamplingParams())));
        Assert.Throws<ArgumentException>(() => g.Add(Req(1, [1], 1, new SamplingParams())));   // empty slot
        Assert.Throws<ArgumentException>(() => g.Add(Req(1, [500], -1, new SamplingParams())));
        Assert.Throws<ArgumentException>(() => g.Add(Req(1, [1], -1, new SamplingParams(TopP: 0))));
        Assert.Equal(0, g.ActiveCount);
    }
}
