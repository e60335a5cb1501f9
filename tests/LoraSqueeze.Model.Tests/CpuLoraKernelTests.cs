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

    // The second shape reaches the float32 kernel's blocked loops and each of their tails: rank 9 = two passes of four
    // A rows + one, out 91 = two four-vector blocks + three vectors + 3, in 45 = five vectors + 5 (and the bfloat16 and
    // int8 loops: five 16-wide blocks + 11).
    [Theory]
    [InlineData(ScalarType.Float32, In, Out, Rank)]
    [InlineData(ScalarType.BFloat16, In, Out, Rank)]
    [InlineData(ScalarType.Int8, In, Out, Rank)]
    [InlineData(ScalarType.Float32, 45, 91, 9)]
    [InlineData(ScalarType.BFloat16, 45, 91, 9)]
    [InlineData(ScalarType.Int8, 45, 91, 9)]
    public void BgmvMatchesSegmentedAndAnExplicitPerRowProduct(ScalarType slotDType, int inF, int outF, int rank)
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var layer = new LoraLinear("p", inF, outF, bias: true, Slots, rank, LoraKernel.Bgmv, ScalarType.Float32, CPU, slotDType);
        var gen = manual_seed(7);
        layer.Weight.copy_(randn(outF, inF, generator: gen));
        layer.Bias!.copy_(randn(outF, generator: gen));
        var a = new Tensor[Slots];
        var b = new Tensor[Slots];
        for (int s = 0; s < Slots; s++)
        {
            a[s] = randn(rank, inF, generator: gen);      // [r, in]
            b[s] = randn(outF, rank, generator: gen);     // [out, r]
            layer.SetSlot(s, a[s], b[s]);
        }
        // Rows: 2 base-only, slot 2 ×1, slot 0 ×6 (a prefill chunk: longer than MaxSegmentRows), slot 3 ×2, slot 1 ×1.
        int[] rowSlots = [-1, -1, 2, 0, 0, 0, 0, 0, 0, 3, 3, 1];
        Assert.True(6 > CpuLoraKernel.MaxSegmentRows);
        var mapping = LoraMapping.FromGroupedRows(rowSlots, CPU);
        Assert.Equal([2, 9, 10, 11], mapping.ShortRows);
        var x = randn(rowSlots.Length, inF, generator: gen);  // [T, in]

        var fast = layer.Forward(x, mapping);
        layer.Kernel = LoraKernel.Segmented;
        var segmented = layer.Forward(x, mapping);
        Assert.True(fast.allclose(segmented, rtol: 1e-5, atol: 1e-5), $"max |Δ| {(fast - segmented).abs().max().item<float>()}");

        // Explicit, in float64, from the factors as stored (rounded to bfloat16, or int8 × row scale, when the slots are).
        for (int t = 0; t < rowSlots.Length; t++)
        {
            var xt = x[t].to_type(ScalarType.Float64);
            var expected = layer.Weight.to_type(ScalarType.Float64).matmul(xt) + layer.Bias.to_type(ScalarType.Float64);
            int s = rowSlots[t];
            if (s >= 0)
            {
                var aS = slotDType == ScalarType.Int8
                    ? layer.A![s].to_type(ScalarType.Float64) * layer.AScale![s].to_type(ScalarType.Float64).unsqueeze(1)
                    : a[s].to_type(slotDType).to_type(ScalarType.Float64);
                var bS = slotDType == ScalarType.Int8
                    ? (layer.B![s].to_type(ScalarType.Float64) * layer.BScale![s].to_type(ScalarType.Float64).unsqueeze(1)).t()
                    : b[s].to_type(slotDType).to_type(ScalarType.Float64);
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

    [Fact]
    public void Int8SlotsKeepEachElementWithinHalfARowScale()
    {
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        var layer = new LoraLinear("p", In, Out, bias: false, Slots, Rank, LoraKernel.Bgmv, ScalarType.Float32, CPU, ScalarType.Int8);
        var a = randn(Rank, In, generator: manual_seed(3));
        var b = randn(Out, Rank, generator: manual_seed(4));
        b[2].zero_();                                     // a zero row of B (column of Bᵀ) must survive
        layer.SetSlot(2, a, b);
        Assert.Equal(ScalarType.Int8, layer.A!.dtype);
        Assert.Equal(1, layer.A.ElementSize);
        // Per rank row: scale = max|row| / 127 and |dequantised − original| ≤ scale / 2.
        var deqA = layer.SlotA(2, ScalarType.Float32);                                     // [r, in]
        var rowScale = a.abs().amax([1]).div(127.0);                                      // [r]
        Assert.True(layer.AScale![2].allclose(rowScale, rtol: 1e-6, atol: 0));
        Assert.True((deqA - a).abs().le(rowScale.unsqueeze(1) * 0.5 + 1e-7).all().item<bool>());
        var deqB = layer.SlotBt(2, ScalarType.Float32).t();                                // [out, r]
        var colScale = b.abs().amax([0]).div(127.0);                                      // [r]
        Assert.True((deqB - b).abs().le(colScale.unsqueeze(0) * 0.5 + 1e-7).all().item<bool>());
        // A smaller rank than the slot leaves the tail rows and their scales at zero (padded layout).
        layer.SetSlot(2, a.narrow(0, 0, 2), b.narrow(1, 0, 2));
        Assert.Equal(0, layer.AScale[2].narrow(0, 2, Rank - 2).abs().sum().item<float>());
        Assert.Equal(0, layer.A[2].narrow(0, 2, Rank - 2).abs().sum().item<long>());
        layer.ResetSlot(2);
        Assert.Equal(0, layer.AScale[2].abs().sum().item<float>());
        // A quarter of float32's bytes plus two scales per rank row.
        Assert.Equal((long)Rank * (In + Out) + 2L * Rank * sizeof(float), layer.SlotBytes);
    }
}
