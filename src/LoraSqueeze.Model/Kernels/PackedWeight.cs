using static TorchSharp.torch;

namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// A base projection's weight [out, in] as stored for serving: float32 (the loaded tensor), bfloat16 (half the bytes,
/// the upper 16 bits of each float32, rounded to nearest even) or int8 with one float32 scale per output row (a quarter
/// of the bytes; <see cref="RowQuantizer"/>). A decode step reads each stored byte once (<see cref="CpuFewRowGemm"/>
/// widens bf16/int8 to float32 in registers), so fewer bytes is a faster step on a bandwidth-bound CPU.
/// </summary>
public sealed class PackedWeight : IDisposable
{
    private PackedWeight(Tensor data, Tensor? scales)
    {
        Data = data;
        Scales = scales;
        DType = data.dtype;
        OutFeatures = data.size(0);
        InFeatures = data.size(1);
    }

    /// <summary>[out, in] in <see cref="DType"/>.</summary>
    public Tensor Data { get; }

    /// <summary>int8 only: [out] float32, row o ≈ Data[o]·Scales[o].</summary>
    public Tensor? Scales { get; }

    // Read once: a decode step asks for these per projection, and each TorchSharp query is a native call
    // (Tensor.shape even allocates its array through a callback, ~1 µs).
    public ScalarType DType { get; }
    public long OutFeatures { get; }
    public long InFeatures { get; }

    /// <summary>Bytes a step reads for this weight.</summary>
    public long Bytes => Data.numel() * Data.ElementSize + (Scales is null ? 0 : Scales.numel() * sizeof(float));

    /// <summary>Wraps a dense weight without copying (the float32 / compute-dtype case).</summary>
    public static PackedWeight Dense(Tensor weight) => new(weight, null);

    /// <summary>A packed copy of <paramref name="weight"/> [out, in] in <paramref name="dtype"/> (Float32, BFloat16 or Int8).</summary>
    public static PackedWeight Pack(Tensor weight, ScalarType dtype)
    {
        switch (dtype)
        {
            case ScalarType.Float32:
                return new PackedWeight(weight.to_type(ScalarType.Float32).contiguous().clone(), null);
            case ScalarType.BFloat16:
                return new PackedWeight(weight.to_type(ScalarType.BFloat16).contiguous(), null);
            case ScalarType.Int8:
                var q = empty(weight.shape, dtype: ScalarType.Int8, device: weight.device);                 // [out, in]
                var s = empty([weight.shape[0]], dtype: ScalarType.Float32, device: weight.device);        // [out]
                RowQuantizer.QuantizeInt8(weight, q, s);
                return new PackedWeight(q, s);
            default:
                throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "base weights are stored as float32, bfloat16 or int8");
        }
    }

    /// <summary>The weight as a dense [out, in] tensor of <paramref name="dtype"/> (a new tensor: the reference path and prefill).</summary>
    public Tensor ToDense(ScalarType dtype)
    {
        if (Scales is null) return Data.to_type(dtype, copy: true);
        return Data.to_type(dtype).mul_(Scales.to_type(dtype).unsqueeze(1));   // [out, in]·[out, 1]
    }

    public void Dispose()
    {
        Data.Dispose();
        Scales?.Dispose();
    }
}
