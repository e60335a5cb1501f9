using LoraSqueeze.Model.Kernels;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Tests;

/// <summary>
/// The few-row decode GEMM (<see cref="BaseKernel.FewRows"/>) against libtorch's <c>linear</c> (the reference) and a
/// float64 product, on shapes that exercise every tail: rows not a multiple of 4, an odd number of outputs, an input
/// width with a scalar tail, outputs split across threads, with and without bias; and the fall-backs.
/// </summary>
public class CpuFewRowGemmTests
{
    public static TheoryData<int, int, int, bool> Shapes => new()
    {
        { 1, 37, 19, true },
        { 2, 37, 19, false },
        { 3, 64, 1, true },
        { 4, 8, 2, false },
        { 5, 1031, 257, true },
        { 8, 1024, 2816, false },
        { 13, 129, 130, true },
        { 16, 96, 64, false },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FewRowGemmEqualsLibtorchLinear(int rows, int inFeatures, int outFeatures, bool bias)
    {
        using var scope = NewDisposeScope();
        var gen = manual_seed(rows * 1000 + inFeatures);
        var x = randn(rows, inFeatures, generator: gen);
        var w = randn(outFeatures, inFeatures, generator: gen);
        var b = bias ? randn(outFeatures, generator: gen) : null;
        var fast = BaseLinear.Forward(x, w, b, BaseKernel.FewRows, threads: 2);
        var reference = BaseLinear.Forward(x, w, b, BaseKernel.Libtorch, threads: 1);
        Assert.Equal(reference.shape, fast.shape);
        var exact = x.to_type(ScalarType.Float64).matmul(w.to_type(ScalarType.Float64).t());
        if (b is not null) exact += b.to_type(ScalarType.Float64);
        double scale = Math.Sqrt(inFeatures);   // a float32 dot product of n standard normals errs by about √n · 1e-7
        double fastErr = (fast.to_type(ScalarType.Float64) - exact).abs().max().item<double>();
        double refErr = (reference.to_type(ScalarType.Float64) - exact).abs().max().item<double>();
        Assert.True(fastErr < 1e-5 * scale, $"few-row kernel: max |Δ| {fastErr} against float64");
        Assert.True(fastErr < 4 * refErr + 1e-6 * scale, $"few-row kernel {fastErr} vs libtorch {refErr} against float64");
    }

    [Fact]
    public void NonContiguousInputIsReadAsItsValues()
    {
        using var scope = NewDisposeScope();
        var gen = manual_seed(3);
        var wide = randn(6, 80, generator: gen);
        var x = wide.narrow(1, 8, 40);                      // [6, 40], a strided view
        var w = randn(21, 40, generator: gen);
        Assert.False(x.is_contiguous());
        var fast = BaseLinear.Forward(x, w, null, BaseKernel.FewRows, threads: 2);
        Assert.True(fast.allclose(nn.functional.linear(x, w), rtol: 1e-5, atol: 1e-5));
    }

    [Fact]
    public void OtherShapesAndTypesFallBackToLibtorch()
    {
        using var scope = NewDisposeScope();
        var gen = manual_seed(4);
        var w = randn(12, 10, generator: gen);
        var many = randn(CpuFewRowGemm.MaxRows + 1, 10, generator: gen);          // prefill-sized: libtorch's GEMM
        Assert.True(BaseLinear.Forward(many, w, null, BaseKernel.FewRows, threads: 2).allclose(nn.functional.linear(many, w), rtol: 0, atol: 0));
        var batched = randn(2, 3, 10, generator: gen);                             // [B, T, in]: the training forward's shape
        Assert.Equal([2, 3, 12], BaseLinear.Forward(batched, w, null, BaseKernel.FewRows, threads: 2).shape);
        var half = randn(2, 10, generator: gen).to_type(ScalarType.BFloat16);
        Assert.Equal(ScalarType.BFloat16, BaseLinear.Forward(half, w.to_type(ScalarType.BFloat16), null, BaseKernel.FewRows, threads: 2).dtype);
    }

    /// <summary>
    /// Packed weights: the kernel on bfloat16 and int8 storage equals libtorch's linear on the same weights widened to
    /// float32 (<see cref="PackedWeight.ToDense"/>) — the packing's rounding is the same on both sides, so only the
    /// summation order differs — on every tail shape, and for more rows than the kernel takes (the widened fall-back).
    /// </summary>
    [Theory]
    [MemberData(nameof(Shapes))]
    public void PackedWeightsEqualLinearOnTheirWidenedValues(int rows, int inFeatures, int outFeatures, bool bias)
    {
        foreach (var dtype in new[] { ScalarType.BFloat16, ScalarType.Int8 })
        {
            using var scope = NewDisposeScope();
            var gen = manual_seed(rows * 1000 + inFeatures + (int)dtype);
            var x = randn(rows, inFeatures, generator: gen);
            var w = randn(outFeatures, inFeatures, generator: gen);
            var b = bias ? randn(outFeatures, generator: gen) : null;
            using var packed = PackedWeight.Pack(w, dtype);
            var fast = BaseLinear.Forward(x, packed, b, BaseKernel.FewRows, threads: 2);
            var dense = packed.ToDense(ScalarType.Float32);
            var exact = x.to_type(ScalarType.Float64).matmul(dense.to_type(ScalarType.Float64).t());
            if (b is not null) exact += b.to_type(ScalarType.Float64);
            double err = (fast.to_type(ScalarType.Float64) - exact).abs().max().item<double>();
            Assert.True(err < 1e-5 * Math.Sqrt(inFeatures), $"{dtype}: max |Δ| {err} against the widened weights in float64");
            // and packing itself is what it claims: int8 rows within half a scale step, bf16 within 2⁻⁸ relative
            double packErr = (dense - w).abs().max().item<float>();
            double bound = dtype == ScalarType.Int8 ? w.abs().max().item<float>() / 127 / 2 * 1.0001 : w.abs().max().item<float>() / 256;
            Assert.True(packErr <= bound, $"{dtype}: packing error {packErr} above {bound}");
        }
    }

    /// <summary>A prefill on packed weights runs the kernel in blocks of MaxRows rows (a partial last block here), and libtorch on the widened weight is the reference.</summary>
    [Theory]
    [InlineData(ScalarType.Int8, BaseKernel.FewRows)]
    [InlineData(ScalarType.BFloat16, BaseKernel.FewRows)]
    [InlineData(ScalarType.Int8, BaseKernel.Libtorch)]
    public void PackedWeightsWithManyRowsMatchTheWidenedWeight(ScalarType dtype, BaseKernel kernel)
    {
        using var scope = NewDisposeScope();
        var gen = manual_seed(9);
        var x = randn(2 * CpuFewRowGemm.MaxRows + 7, 40, generator: gen);
        var w = randn(24, 40, generator: gen);
        var b = randn(24, generator: gen);
        using var packed = PackedWeight.Pack(w, dtype);
        if (dtype == ScalarType.Int8) Assert.Equal(24 * 40 + 24 * 4, packed.Bytes);   // a byte per weight plus a float32 scale per row
        var y = BaseLinear.Forward(x, packed, b, kernel, threads: 2);
        Assert.True(y.allclose(nn.functional.linear(x, packed.ToDense(ScalarType.Float32), b), rtol: 1e-5, atol: 1e-5));
    }
}
