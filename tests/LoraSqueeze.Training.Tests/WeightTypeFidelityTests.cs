using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Testing;
using LoraSqueeze.Training.Squeeze;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Tests;

/// <summary>
/// What each base weight type costs (<see cref="WeightTypeFidelity"/>, <c>eval-weights</c>): on a tiny model whose
/// rows the int8 activation blocks tile (hidden 32, intermediate 64), int8 weights cost a small KL, int8 activations
/// on top cost more (so the w8a8 rows really come from decode steps that quantise activations: a prefill would
/// multiply float32 rows and give int8's KL again), and the float32 perplexity is the same reference for every row.
/// </summary>
public sealed class WeightTypeFidelityTests
{
    [Fact]
    public void W8a8_is_measured_on_decode_steps_and_costs_more_than_int8_weights_alone()
    {
        TorchRuntime.EnsureInitialized();
        var dir = TestModels.TempDir("weight-fidelity");
        TinyModelFactory.Write(dir, TinyModelSpec.Llama);   // hidden 32, intermediate 64, vocab 96
        var rng = new Random(7);
        var windows = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 17).Select(_ => rng.Next(96)).ToArray()).ToList();
        var cases = new List<(string Name, LoraWeights? Adapter)> { ("base model", null) };
        var rows = WeightTypeFidelity.Measure(dir, cases,
            [new BaseWeightType(ScalarType.Int8), new BaseWeightType(ScalarType.Int8, Int8Activations: true)], windows, rank: 4, greedyTokens: 6);

        Assert.Equal(["int8", "w8a8"], rows.Select(r => r.WeightType));
        var int8 = rows[0];
        var w8a8 = rows[1];
        Assert.All(rows, r => Assert.Equal(4 * 16, r.Positions));
        Assert.True(int8.MeanKl > 0 && int8.MeanKl < 1e-2, $"int8 KL {int8.MeanKl}");
        Assert.True(w8a8.MeanKl > 1.2 * int8.MeanKl && w8a8.MeanKl < 5e-2, $"w8a8 KL {w8a8.MeanKl} against int8's {int8.MeanKl}");
        Assert.Equal(int8.Float32Perplexity, w8a8.Float32Perplexity, 9);
        Assert.InRange(w8a8.GreedyAgreement, 0, 1);
        Assert.InRange(w8a8.Top1Agreement, 0.5, 1);
    }
}
