using LoraSqueeze.Model.Kernels;
using LoraSqueeze.Model.Lora;
using LoraSqueeze.Model.Modules;
using LoraSqueeze.Testing;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Tests;

/// <summary>
/// q/k/v and gate/up as one GEMM region (<see cref="BaseLinear.ForwardGroup"/>, <see cref="ProjectionGroup"/>): each
/// output equals its projection run alone (<see cref="BaseLinear.Forward(Tensor, PackedWeight, Tensor?, BaseKernel, int, bool)"/>)
/// bit for bit — the same kernel computes every output row, only the threads' ranges differ — on every storage type,
/// with int8 activations, on shapes whose thread ranges cut through a projection and end on odd rows; groups that
/// cannot run as one region fall back; and a model decodes the same logits fused and unfused.
/// </summary>
public class ProjectionGroupTests
{
    public static TheoryData<int, int, int[], bool> Shapes => new()
    {
        { 1, 64, [96, 32, 32], true },          // q/k/v-like, bias (qwen2): parts cut inside q
        { 3, 96, [130, 2, 257], false },        // odd and tiny members, odd total
        { 8, 1024, [1024, 256, 256], false },   // the h1024 model's q/k/v
        { 8, 1024, [2816, 2816], false },       // its gate/up
        { 13, 160, [71, 129], true },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void EachOutputEqualsItsProjectionAlone(int rows, int inFeatures, int[] outs, bool bias)
    {
        foreach (var (storage, int8Rows) in new[] { (ScalarType.Float32, false), (ScalarType.BFloat16, false), (ScalarType.Int8, false), (ScalarType.Int8, true) })
        {
            using var scope = NewDisposeScope();
            var gen = manual_seed(rows * 7 + inFeatures + (int)storage);
            var x = randn(rows, inFeatures, generator: gen);
            var weights = outs.Select(o => PackedWeight.Pack(randn(o, inFeatures, generator: gen), storage)).ToArray();
            var biases = outs.Select(o => bias ? randn(o, generator: gen) : null).ToArray();
            var grouped = new Tensor[outs.Length];
            BaseLinear.ForwardGroup(x, weights, biases, BaseKernel.FewRows, threads: 2, int8Rows, grouped);
            for (int i = 0; i < outs.Length; i++)
            {
                var alone = BaseLinear.Forward(x, weights[i], biases[i], BaseKernel.FewRows, threads: 2, int8Rows);
                Assert.Equal(alone.shape, grouped[i].shape);
                Assert.True(grouped[i].allclose(alone, rtol: 0, atol: 0), $"{storage}{(int8Rows ? " × int8 rows" : "")}: member {i} ({outs[i]} rows) differs, max |Δ| {(grouped[i] - alone).abs().max().item<float>()}");
                // and alone is libtorch's linear on the stored (widened) weight, up to summation order
                var dense = weights[i].ToDense(ScalarType.Float32);
                if (!int8Rows) Assert.True(alone.allclose(nn.functional.linear(x, dense, biases[i]), rtol: 1e-4, atol: 1e-4), $"{storage}: member {i} against linear");
            }
            foreach (var w in weights) w.Dispose();
        }
    }

    [Fact]
    public void GroupsThatCannotRunAsOneRegionFallBackToEachProjection()
    {
        using var scope = NewDisposeScope();
        var gen = manual_seed(5);
        var x = randn(2, 64, generator: gen);
        using var f32 = PackedWeight.Pack(randn(40, 64, generator: gen), ScalarType.Float32);
        using var int8 = PackedWeight.Pack(randn(24, 64, generator: gen), ScalarType.Int8);
        var mixed = new Tensor[2];
        BaseLinear.ForwardGroup(x, [f32, int8], [null, null], BaseKernel.FewRows, 2, false, mixed);   // two storage types
        Assert.True(mixed[0].allclose(BaseLinear.Forward(x, f32, null, BaseKernel.FewRows, 2), rtol: 0, atol: 0));
        Assert.True(mixed[1].allclose(BaseLinear.Forward(x, int8, null, BaseKernel.FewRows, 2), rtol: 0, atol: 0));
        var many = randn(CpuFewRowGemm.MaxRows + 1, 64, generator: gen);                                // a prefill: libtorch
        var prefill = new Tensor[1];
        BaseLinear.ForwardGroup(many, [f32], [null], BaseKernel.FewRows, 2, false, prefill);
        Assert.True(prefill[0].allclose(nn.functional.linear(many, f32.Data), rtol: 0, atol: 0));
        var reference = new Tensor[1];
        BaseLinear.ForwardGroup(x, [f32], [null], BaseKernel.Libtorch, 2, false, reference);             // the reference kernel
        Assert.True(reference[0].allclose(nn.functional.linear(x, f32.Data), rtol: 0, atol: 0));
        Assert.Throws<ArgumentException>(() => new ProjectionGroup(
            new LoraLinear("a", 8, 4, false, 0, 0, LoraKernel.Bgmv, ScalarType.Float32, CPU),
            new LoraLinear("b", 16, 4, false, 0, 0, LoraKernel.Bgmv, ScalarType.Float32, CPU)));         // different inputs
    }

    [Theory]
    [InlineData("llama", null, false)]
    [InlineData("qwen2", null, false)]
    [InlineData("llama", ScalarType.Int8, true)]
    [InlineData("qwen2", ScalarType.BFloat16, false)]
    public void AModelDecodesTheSameLogitsFusedAndUnfused(string type, ScalarType? weights, bool int8Rows)
    {
        var spec = type == "qwen2" ? TinyModelSpec.Qwen2 : TinyModelSpec.Llama;
        var options = new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 2, WeightDType = weights, Int8Activations = int8Rows };
        using var model = TestModels.WriteAndLoad(spec, options, $"fused-{type}-{weights}-{int8Rows}");
        using var adapter = TinyModelFactory.RandomAdapter(model, "a", 4, 33);
        model.Adapters.Install(1, adapter);
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        int[][] prompts = [[3, 4, 5, 6, 7], [9, 8], [20, 21, 22]];
        int[] slots = [1, -1, 1];
        Tensor[] Run(bool fused)
        {
            model.SetFusedProjections(fused);
            using var cache = model.CreateCache(3, 16);
            var prefill = model.Forward(prompts.Select((p, i) => new SequenceChunk(i, 0, p, slots[i])).ToList(), cache);
            var decode = model.Forward(prompts.Select((p, i) => new SequenceChunk(i, p.Length, [11], slots[i])).ToList(), cache);
            var decode2 = model.Forward(prompts.Select((p, i) => new SequenceChunk(i, p.Length + 1, [12], slots[i])).ToList(), cache);
            return [prefill, decode, decode2];
        }
        var fused = Run(true);
        var unfused = Run(false);
        model.SetFusedProjections(true);
        for (int s = 0; s < fused.Length; s++)
            Assert.True(fused[s].allclose(unfused[s], rtol: 0, atol: 0), $"step {s}: max |Δ| {(fused[s] - unfused[s]).abs().max().item<float>()}");
    }
}
