using LoraSqueeze.Model.Lora;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Tests;

/// <summary>
/// The in-place CPU BGMV kernel (<see cref="LoraKernel.Bgmv"/>) against the torch paths on one projection, on shapes
/// that are not multiples of any vector width, with decode rows, a prefill-length segment and base-only rows mixed.
/// </summary>
public class CpuLoraKernelTests
{
    // in 37 and out 19: every vector loop has a scalar tail; rank 5 is not a vector width either.
    private const int In = 37, Out = 19, Rank = 5, Slots = 4;

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void BgmvMatchesSegmentedAndAnExplicitPerRowProduct(bool bf16Slots)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var layer = new LoraLinear("p", In, Out, bias: true, Slots, Rank, LoraKernel.Bgmv, ScalarType.Float32, CPU,
            bf16Slots ? ScalarType.BFloat16 : null);
        var gen = manual_seed(7);
        layer.Weight.copy_(randn(Out, In, generator: gen));
        layer.Bias!.copy_(randn(Out, generator: gen));
        var a = new Tensor[Slots];
        var b = new Tensor[Slots];
        for (int s = 0; s < Slots; s++)
        {
            a[s] = randn(Rank, In, generator: gen);      // [r, in]
            b[s] = randn(Out, Rank, generator: gen);     // [out, r]
            layer.SetSlot(s, a[s], b[s]);
        }
        // Rows: 2 base-only, slot 2 ×1, slot 0 ×6 (a prefill chunk: longer than MaxSegmentRows), slot 3 ×2, slot 1 ×1.
        int[] rowSlots = [-1, -1, 2, 0, 0, 0, 0, 0, 0, 3, 3, 1];
        Assert.True(6 > CpuLoraKernel.MaxSegmentRows);
        var mapping = LoraMapping.FromGroupedRows(rowSlots, CPU);
        Assert.Equal([2, 9, 10, 11], mapping.ShortRows);
        var x = randn(rowSlots.Length, In, generator: gen);  // [T, in]

        var fast = layer.Forward(x, mapping);
        layer.Kernel = LoraKernel.Segmented;
        var segmented = layer.Forward(x, mapping);
        Assert.True(fast.allclose(segmented, rtol: 1e-5, atol: 1e-5), $"max |Δ| {(fast - segmented).abs().max().item<float>()}");

        // Explicit, in float64, from the factors as stored (rounded to bfloat16 when the slots are).
        for (int t = 0; t < rowSlots.Length; t++)
        {
            var xt = x[t].to_type(ScalarType.Float64);
            var expected = layer.Weight.to_type(ScalarType.Float64).matmul(xt) + layer.Bias.to_type(ScalarType.Float64);
            int s = rowSlots[t];
            if (s >= 0)
            {
                var aS = a[s].to_type(bf16Slots ? ScalarType.BFloat16 : ScalarType.Float32).to_type(ScalarType.Float64);
                var bS = b[s].to_type(bf16Slots ? ScalarType.BFloat16 : ScalarType.Float32).to_type(ScalarType.Float64);
                expected += bS.matmul(aS.matmul(xt));
            }
            double err = (fast[t].to_type(ScalarType.Float64) - expected).abs().max().item<double>();
            Assert.True(err < 1e-4, $"row {t} (slot {s}): max |Δ| {err}");
        }
    }

    [Fact]
    public void BfloatSlotsRoundTheFactorsOnceAtInstall()
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var layer = new LoraLinear("p", In, Out, bias: false, Slots, Rank, LoraKernel.Bgmv, ScalarType.Float32, CPU, ScalarType.BFloat16);
        var a = randn(Rank, In, generator: manual_seed(1));
        var b = randn(Out, Rank, generator: manual_seed(2));
        layer.SetSlot(1, a, b);
        Assert.Equal(ScalarType.BFloat16, layer.A!.dtype);
        // Stored values are the bfloat16 roundings of the factors (B transposed): relative error ≤ 2⁻⁸.
        var storedA = layer.A[1].to_type(ScalarType.Float32);
        var storedB = layer.B![1].t().to_type(ScalarType.Float32);
        Assert.True((storedA - a).abs().le(a.abs() * (1.0 / 256) + 1e-30).all().item<bool>());
        Assert.True((storedB - b).abs().le(b.abs() * (1.0 / 256) + 1e-30).all().item<bool>());
        // Half the bytes of float32 slots.
        Assert.Equal(2, layer.A.ElementSize);
    }
}
