using static TorchSharp.torch;

namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// x·Wᵀ + b through the chosen <see cref="BaseKernel"/>; libtorch's <c>linear</c> is the reference. A bfloat16 or int8
/// <see cref="PackedWeight"/> goes through the few-row kernel, a prefill in blocks of <see cref="CpuFewRowGemm.MaxRows"/>
/// rows (compute-bound there, so reading the packed weight once per block costs little, and nothing is widened into
/// memory: a dense float32 copy per projection per prefill measured 2× slower on h1024, its allocation and conversion
/// costing more than the GEMM). Where the kernel cannot run (no AVX2, <see cref="BaseKernel.Libtorch"/>, not float32
/// CPU), the weight is widened for libtorch's <c>linear</c>.
/// </summary>
public static class BaseLinear
{
    /// <summary>
    /// x: [T, in], weight: [out, in] stored as float32, bfloat16 or int8, bias: [out] or null → [T, out].
    /// <paramref name="threads"/>: threads the few-row kernel splits the outputs over (the model's kernel threads).
    /// </summary>
    public static unsafe Tensor Forward(Tensor x, PackedWeight weight, Tensor? bias, BaseKernel kernel, int threads)
    {
        if (weight.Scales is null && weight.DType == x.dtype) return Forward(x, weight.Data, bias, kernel, threads);
        bool fewRows = kernel == BaseKernel.FewRows && CpuFewRowGemm.SupportsPacked && x.dim() == 2
            && x.device_type == TorchSharp.DeviceType.CPU && x.dtype == ScalarType.Float32 && (bias is null || (bias.dtype == ScalarType.Float32 && bias.is_contiguous()))
            && weight.Data.is_contiguous() && (weight.DType == ScalarType.BFloat16 || weight.DType == ScalarType.Int8);
        if (!fewRows)
        {
            using var dense = weight.ToDense(x.dtype);                // [out, in]
            return nn.functional.linear(x, dense, bias);
        }
        var xc = x.is_contiguous() ? x : x.contiguous();              // [T, in]
        int rows = (int)xc.shape[0], inF = (int)xc.shape[1], outF = (int)weight.OutFeatures;
        var y = empty([rows, outF], dtype: ScalarType.Float32, device: x.device);   // [T, out]
        fixed (byte* px = xc.bytes, pw = weight.Data.bytes, py = y.bytes, pb = bias is null ? Span<byte>.Empty : bias.bytes)
        {
            fixed (byte* ps = weight.Scales is null ? Span<byte>.Empty : weight.Scales.bytes)
            {
                for (int r0 = 0; r0 < rows; r0 += CpuFewRowGemm.MaxRows)
                {
                    int n = Math.Min(CpuFewRowGemm.MaxRows, rows - r0);
                    float* xb = (float*)px + (long)r0 * inF, yb = (float*)py + (long)r0 * outF;   // rows r0.. of x and y
                    if (weight.DType == ScalarType.BFloat16)
                        CpuFewRowGemm.ApplyBf16(xb, n, (ushort*)pw, (float*)pb, yb, inF, outF, threads);
                    else
                        CpuFewRowGemm.ApplyInt8(xb, n, (sbyte*)pw, (float*)ps, (float*)pb, yb, inF, outF, threads);
                }
            }
        }
        return y;
    }

    /// <summary>x: [T, in] (or [.., in] for libtorch), weight: [out, in], bias: [out] or null → [T, out].</summary>
    public static unsafe Tensor Forward(Tensor x, Tensor weight, Tensor? bias, BaseKernel kernel, int threads)
    {
        if (kernel != BaseKernel.FewRows || x.dim() != 2 || x.shape[0] > CpuFewRowGemm.MaxRows || x.device_type != TorchSharp.DeviceType.CPU
            || x.dtype != ScalarType.Float32 || weight.dtype != ScalarType.Float32 || (bias is not null && bias.dtype != ScalarType.Float32)
            || !weight.is_contiguous() || (bias is not null && !bias.is_contiguous()))
            return nn.functional.linear(x, weight, bias);
        var xc = x.is_contiguous() ? x : x.contiguous();              // [T, in]
        int rows = (int)xc.shape[0], inF = (int)xc.shape[1], outF = (int)weight.shape[0];
        var y = empty([rows, outF], dtype: ScalarType.Float32, device: x.device);   // [T, out]
        fixed (byte* px = xc.bytes, pw = weight.bytes, py = y.bytes)
        {
            if (bias is null)
            {
                CpuFewRowGemm.Apply((float*)px, rows, (float*)pw, null, (float*)py, inF, outF, threads);
            }
            else
            {
                fixed (byte* pb = bias.bytes) CpuFewRowGemm.Apply((float*)px, rows, (float*)pw, (float*)pb, (float*)py, inF, outF, threads);
            }
        }
        return y;
    }
}
