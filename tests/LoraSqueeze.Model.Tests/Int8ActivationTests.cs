using LoraSqueeze.Model.Kernels;
using LoraSqueeze.Model.Modules;
using LoraSqueeze.Model.Reference;
using LoraSqueeze.Testing;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Tests;

/// <summary>
/// int8 weights × int8 activations (<see cref="ModelLoadOptions.Int8Activations"/>): the block quantiser does what
/// Q8_0 says, the int8 × int8 kernel equals a float64 product of the two dequantised operands on every tail shape
/// (so it is exact up to float32 summation, and its only error is the quantisation's), the model stays close to the
/// float-activation path it replaces, and the settings that cannot work are refused.
/// </summary>
public class Int8ActivationTests
{
    [Fact]
    public unsafe void BlocksAreQuantisedWithinHalfAStepAndTheirMaximumMapsTo127()
    {
        using var scope = NewDisposeScope();
        var x = randn(3, 96, generator: manual_seed(4)).mul_(3);
        x[1].narrow(0, 32, 32).zero_();                     // an all-zero block keeps scale 0
        x[2, 70] = tensor(250f);                            // one outlier costs precision in its own block only
        var xv = x.data<float>().ToArray();
        var q = new sbyte[3 * 96];
        var d = new float[3 * 3];
        fixed (float* px = xv, pd = d)
        fixed (sbyte* pq = q)
            ActivationQuantizer.Quantize(px, 3, 96, pq, pd);
        for (int b = 0; b < 9; b++)
        {
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.Max(amax, Math.Abs(xv[b * 32 + i]));
            Assert.Equal(amax / 127f, d[b], 6);
            if (amax == 0)
            {
                Assert.All(q.Skip(b * 32).Take(32), v => Assert.Equal(0, v));
                continue;
            }
            Assert.Contains(q.Skip(b * 32).Take(32), v => Math.Abs(v) == 127);
            for (int i = 0; i < 32; i++)
            {
                Assert.InRange((int)q[b * 32 + i], -127, 127);
                Assert.True(Math.Abs(q[b * 32 + i] * d[b] - xv[b * 32 + i]) <= d[b] * 0.5001f, $"block {b} element {i}");
            }
        }
        Assert.Equal(0f, d[4]);                                               // the zero block (row 1, block 1)
        Assert.Equal(250f / 127f, d[8], 5);                                   // the outlier's block (row 2, block 2) ...
        Assert.All(d.Where((_, b) => b != 4 && b != 8), s => Assert.InRange(s, 1e-3f, 0.1f));   // ... and no other block's scale grew
        Assert.Throws<ArgumentException>(() =>
        {
            fixed (float* px = xv, pd = d)
            fixed (sbyte* pq = q)
                ActivationQuantizer.Quantize(px, 1, 40, pq, pd);
        });
    }

    public static TheoryData<int, int, int, bool> Shapes => new()
    {
        { 1, 32, 1, true },
        { 1, 64, 7, false },       // a quad and three leftover outputs
        { 2, 96, 19, true },
        { 3, 1024, 130, false },
        { 5, 128, 257, true },     // outputs split across threads, an odd last one
        { 8, 1024, 2816, false },
        { 13, 160, 66, true },
        { 16, 32, 64, false },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public unsafe void Int8DotKernelEqualsTheDequantisedProduct(int rows, int inFeatures, int outFeatures, bool bias)
    {
        using var scope = NewDisposeScope();
        var gen = manual_seed(rows * 977 + outFeatures);
        var x = randn(rows, inFeatures, generator: gen);
        var w = randn(outFeatures, inFeatures, generator: gen);
        var b = bias ? randn(outFeatures, generator: gen) : null;
        using var packed = PackedWeight.Pack(w, ScalarType.Int8);
        var fast = BaseLinear.Forward(x, packed, b, BaseKernel.FewRows, threads: 2, int8Activations: true);

        // The reference: x quantised the same way, both operands dequantised, multiplied in float64.
        var xv = x.data<float>().ToArray();
        var q = new sbyte[rows * inFeatures];
        var d = new float[rows * inFeatures / 32];
        fixed (float* px = xv, pd = d)
        fixed (sbyte* pq = q)
            ActivationQuantizer.Quantize(px, rows, inFeatures, pq, pd);
        var xDeq = tensor(q, ScalarType.Int8).view(rows, inFeatures / 32, 32).to_type(ScalarType.Float64)
            .mul(tensor(d).view(rows, inFeatures / 32, 1).to_type(ScalarType.Float64)).view(rows, inFeatures);   // [rows, blocks, 32]·[rows, blocks, 1] → [rows, in]
        var exact = xDeq.matmul(packed.ToDense(ScalarType.Float64).t());
        if (b is not null) exact += b.to_type(ScalarType.Float64);
        double err = (fast.to_type(ScalarType.Float64) - exact).abs().max().item<double>();
        Assert.True(err < 1e-5 * Math.Sqrt(inFeatures), $"max |Δ| {err} against the dequantised operands in float64");

        // And against the float-activation path (the reference kernel): only the activations' rounding apart.
        var floatRows = BaseLinear.Forward(x, packed, b, BaseKernel.FewRows, threads: 2);
        double rel = (fast - floatRows).norm().item<float>() / floatRows.norm().item<float>();
        Assert.InRange(rel, 1e-6, 2e-2);
    }

    [Fact]
    public void RowsNotTiledByBlocksAndPrefillsMultiplyFloat32Rows()
    {
        using var scope = NewDisposeScope();
        var gen = manual_seed(12);
        using var packed = PackedWeight.Pack(randn(24, 40, generator: gen), ScalarType.Int8);
        var x = randn(3, 40, generator: gen);                                  // 40 is not a multiple of 32
        Assert.True(BaseLinear.Forward(x, packed, null, BaseKernel.FewRows, 2, int8Activations: true)
            .allclose(BaseLinear.Forward(x, packed, null, BaseKernel.FewRows, 2), rtol: 0, atol: 0));   // the same kernel, bit for bit
        using var packed64 = PackedWeight.Pack(randn(24, 64, generator: gen), ScalarType.Int8);
        var many = randn(CpuFewRowGemm.MaxRows + 1, 64, generator: gen);      // a prefill: widened weight, libtorch
        Assert.True(BaseLinear.Forward(many, packed64, null, BaseKernel.FewRows, 2, int8Activations: true)
            .allclose(nn.functional.linear(many, packed64.ToDense(ScalarType.Float32)), rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void DecodeWithInt8ActivationsStaysCloseToFloat32Rows()
    {
        var spec = TinyModelSpec.Llama;
        var options = new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 2, WeightDType = ScalarType.Int8, Int8Activations = true };
        using var model = TestModels.WriteAndLoad(spec, options, "w8a8");
        Assert.True(model.Int8Activations);
        Assert.True(model.Config.HiddenSize % 32 == 0, "the tiny model's rows must be tiled by blocks for this test to mean anything");
        using var adapter = TinyModelFactory.RandomAdapter(model, "a", 4, 21);
        model.Adapters.Install(1, adapter);
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        int[][] prompts = [[3, 4, 5, 6, 7], [9, 8]];
        int[] slots = [1, -1];
        Tensor Decode(bool int8Rows)
        {
            model.SetInt8Activations(int8Rows);
            using var cache = model.CreateCache(2, 16);
            model.Forward(prompts.Select((p, i) => new SequenceChunk(i, 0, p, slots[i])).ToList(), cache);
            return model.Forward(prompts.Select((p, i) => new SequenceChunk(i, p.Length, [11], slots[i])).ToList(), cache);
        }
        var q = Decode(true);
        var f = Decode(false);
        // The reference decoder on the same int8 weights is what the float-row path equals (PackedBaseWeightTests);
        // int8 rows move the logits by the activations' rounding only: measurable, and of the size int8 weights cost
        // (5e-2, PackedBaseWeightTests; both round to 127 levels, here per 32-wide block of a 32-wide hidden state).
        var reference = ReferenceDecoder.Logits(model, [.. prompts[0], 11], slots[0]);
        Assert.True(TestModels.RelativeError(f[0], reference[prompts[0].Length]) < 1e-4, "float rows = the reference");
        double rel = TestModels.RelativeError(q[0], reference[prompts[0].Length]);
        Assert.InRange(rel, 1e-6, 5e-2);
        Assert.InRange(TestModels.RelativeError(q[1], f[1]), 1e-6, 5e-2);
    }

    [Fact]
    public void Int8ActivationsWithoutInt8WeightsAreRefused()
    {
        var ex = Assert.Throws<ArgumentException>(() => TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions { Int8Activations = true }, "bad-a8"));
        Assert.Contains("int8 activations", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions { WeightDType = ScalarType.BFloat16, Int8Activations = true }, "bad-a8-bf16"));
        Assert.Contains("BFloat16", ex.Message);
    }
}
