using LoraSqueeze.Model.Kernels;
using LoraSqueeze.Model.Modules;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Tests;

/// <summary>
/// The fused decode passes (<see cref="CpuElementwise"/>) against the libtorch expressions they replace, on sizes with
/// and without a SIMD tail: RMSNorm (the module's fused path vs its expression under autograd), rotate-half RoPE in
/// place vs <see cref="RotaryEmbedding.Apply"/>, RoPE on the way into the KV cache vs RoPE then index_copy_, silu(gate) ⊙ up.
/// </summary>
public unsafe class CpuElementwiseTests
{
    [Theory]
    [InlineData(1, 128)]
    [InlineData(5, 37)]
    [InlineData(16, 2048)]
    public void RmsNormEqualsTheExpression(int rows, int n)
    {
        using var scope = NewDisposeScope();
        var gen = manual_seed(rows + n);
        using var norm = new RmsNorm("n", n, 1e-5, ScalarType.Float32, CPU);
        norm.Weight.copy_(rand(n, generator: gen) + 0.5);
        var x = randn(rows, n, generator: gen) * 3;
        var fused = norm.Forward(x);                                   // the kernel (no autograd)
        var reference = norm.Forward(x.clone().requires_grad_(true));  // the expression (autograd on x)
        Assert.True(fused.allclose(reference.detach(), rtol: 1e-5, atol: 1e-6));
    }

    [Theory]
    [InlineData(1, 4, 64)]
    [InlineData(3, 2, 12)]     // half = 6: no full vector, all tail
    [InlineData(8, 8, 128)]
    public void RopeInPlaceEqualsRotateHalf(int tokens, int heads, int d)
    {
        using var scope = NewDisposeScope();
        var gen = manual_seed(tokens * 100 + d);
        var x = randn(tokens, heads, d, generator: gen);
        var angles = rand(tokens, d, generator: gen) * 6;
        var cos = angles.cos().contiguous();
        var sin = angles.sin().contiguous();
        var expected = RotaryEmbedding.Apply(x, cos, sin);
        var y = x.clone();
        fixed (byte* py = y.bytes, pc = cos.bytes, ps = sin.bytes)
            CpuElementwise.RopeInPlace((float*)py, tokens, heads, d, (float*)pc, (float*)ps);
        Assert.True(y.allclose(expected, rtol: 1e-5, atol: 1e-6));
    }

    /// <summary>
    /// The fused cache write: keys rotated into their cache rows and values copied, equal to RoPE in place followed by
    /// the reference's two <c>index_copy_</c> calls; rows not written stay as they were.
    /// </summary>
    [Theory]
    [InlineData(1, 4, 64)]
    [InlineData(3, 2, 12)]
    [InlineData(8, 2, 128)]
    public void RopeKeysIntoCacheEqualsRopeThenIndexCopy(int tokens, int heads, int d)
    {
        using var scope = NewDisposeScope();
        var gen = manual_seed(tokens * 10 + d);
        const int rows = 3, maxLen = 7;
        var k = randn(tokens, heads, d, generator: gen);
        var v = randn(tokens, heads, d, generator: gen);
        var angles = rand(tokens, d, generator: gen) * 6;
        var cos = angles.cos().contiguous();
        var sin = angles.sin().contiguous();
        var index = Enumerable.Range(0, tokens).Select(t => (long)((t * 5 + 2) % (rows * maxLen))).ToArray();   // distinct cache slots
        var keys = randn(rows, maxLen, heads, d, generator: gen);
        var values = randn(rows, maxLen, heads, d, generator: gen);
        var expectedKeys = keys.clone();
        var expectedValues = values.clone();
        var idx = tensor(index);
        expectedKeys.view(rows * maxLen, heads, d).index_copy_(0, idx, RotaryEmbedding.Apply(k, cos, sin));
        expectedValues.view(rows * maxLen, heads, d).index_copy_(0, idx, v);
        fixed (byte* pk = k.bytes, pv = v.bytes, pc = cos.bytes, ps = sin.bytes, pkeys = keys.bytes, pvalues = values.bytes)
        fixed (long* pi = index)
            CpuElementwise.RopeKeysIntoCache((float*)pk, (float*)pv, tokens, heads, d, (float*)pc, (float*)ps, (float*)pkeys, (float*)pvalues, pi);
        Assert.True(keys.allclose(expectedKeys, rtol: 1e-5, atol: 1e-6), "keys");
        Assert.True(values.allclose(expectedValues, rtol: 0, atol: 0), "values");
    }

    [Fact]
    public void SiluMulEqualsTheExpression()
    {
        using var scope = NewDisposeScope();
        var gen = manual_seed(5);
        var gate = randn(3, 101, generator: gen) * 4;
        gate[0, 0] = tensor(-100f);   // exp(100) overflows to +inf: silu is −0, not NaN
        gate[0, 1] = tensor(95f);     // exp(−95) underflows: silu is the input
        gate[1, 8] = tensor(-88.5f);  // the same in the vector loop
        var up = randn(3, 101, generator: gen);
        var expected = nn.functional.silu(gate) * up;
        var g = gate.clone();
        fixed (byte* pg = g.bytes, pu = up.bytes)
            CpuElementwise.SiluMulInPlace((float*)pg, (float*)pu, g.numel());
        Assert.False(g.isnan().any().item<bool>());
        Assert.True(g.allclose(expected, rtol: 1e-5, atol: 1e-6));
    }
}
