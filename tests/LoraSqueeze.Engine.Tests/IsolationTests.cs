using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Engine.Execution;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Sampling;
using LoraSqueeze.Testing;

namespace LoraSqueeze.Engine.Tests;

/// <summary>
/// One tenant cannot change another's output: an adapter whose weights overflow (finite factors, ×1e20, installed
/// straight into a slot past the loader's bound) fails its own requests with <see cref="FinishReason.NonFinite"/>, and
/// every other request, in the same batch or later on the same KV-cache row, equals its solo run.
/// </summary>
public sealed class IsolationTests : IDisposable
{
    private const int Poisoned = 1;
    private readonly CausalLM _model;

    public IsolationTests()
    {
        _model = TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 3 }, "iso");
        using var a = TinyModelFactory.RandomAdapter(_model, "a", 4, 31);
        using var b = TinyModelFactory.RandomAdapter(_model, "b", 4, 32);
        using var p = TinyModelFactory.RandomAdapter(_model, "p", 4, 33);
        using var huge = new LoraWeights("p", p.Modules.Select(m => new LoraModule(m.ModulePath, m.A * 1e20f, m.B * 1e20f)).ToList());
        _model.Adapters.Install(0, a);
        _model.Adapters.Install(Poisoned, huge);
        _model.Adapters.Install(2, b);
    }

    public void Dispose() => _model.Dispose();

    private static GenerationRequest Req(long id, int[] prompt, int slot) =>
        new(id, prompt, slot < 0 ? null : InstalledAdapters.SlotId(slot), SamplingParams.Greedy(6));

    private static readonly int[] Long = [.. Enumerable.Range(3, 24)];
    private static readonly int[] Short = [7, 8, 9];

    private static List<TokenEvent> Run(EngineCore core)
    {
        var all = new List<TokenEvent>();
        for (int i = 0; i < 200 && (core.ActiveCount > 0 || core.WaitingCount > 0); i++) all.AddRange(core.Step().Events);
        return all;
    }

    private static int[] TokensOf(IEnumerable<TokenEvent> events, long id) =>
        events.Where(e => e.RequestId == id && e.TokenId >= 0).Select(e => e.TokenId).ToArray();

    private int[] Solo(int[] prompt, int slot)
    {
        using var core = EngineCore.ForModel(_model, new SchedulerOptions { MaxBatch = 1, MaxTokensPerStep = 64, MaxSequenceLength = 48, EosTokenIds = [] });
        core.Add(Req(1, prompt, slot));
        return TokensOf(Run(core), 1);
    }

    [Fact]
    public void A_poisoned_adapter_fails_alone_and_leaves_its_batch_and_its_row_untouched()
    {
        var soloBase = Solo(Short, -1);
        var soloA = Solo(Long, 0);
        var soloB = Solo(Short, 2);
        Assert.Equal(6, soloBase.Length);

        using var core = EngineCore.ForModel(_model, new SchedulerOptions { MaxBatch = 4, MaxTokensPerStep = 128, MaxSequenceLength = 48, EosTokenIds = [] });
        // The same batch: the poisoned request beside three others.
        core.Add(Req(10, Long, Poisoned));
        core.Add(Req(11, Short, -1));
        core.Add(Req(12, Long, 0));
        core.Add(Req(13, Short, 2));
        var events = Run(core);
        var failed = Assert.Single(events, e => e.RequestId == 10);
        Assert.Equal(new TokenEvent(10, -1, float.NaN, FinishReason.NonFinite), failed);
        Assert.Equal(soloBase, TokensOf(events, 11));
        Assert.Equal(soloA, TokensOf(events, 12));
        Assert.Equal(soloB, TokensOf(events, 13));

        // Later on the same row: the poisoned request wrote NaN over 24 positions of its row; a short request that takes
        // the row next reads past its own length (up to the batch's longest chunk), where only zeros may be.
        core.Add(Req(20, Long, Poisoned));
        Assert.Contains(Run(core), e => e.RequestId == 20 && e.Finish == FinishReason.NonFinite);
        core.Add(Req(21, Short, -1));                                     // LIFO free rows: the poisoned one's row
        core.Add(Req(22, Long, 0));
        var later = Run(core);
        Assert.Equal(soloBase, TokensOf(later, 21));
        Assert.Equal(soloA, TokensOf(later, 22));
        Assert.Equal(0, core.ActiveCount);
    }
}
