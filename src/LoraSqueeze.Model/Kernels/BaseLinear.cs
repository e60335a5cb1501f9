using static TorchSharp.torch;

namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// x·Wᵀ + b through the chosen <see cref="BaseKernel"/>; libtorch's <c>linear</c> is the reference. A bfloat16 or int8
/// <see cref="PackedWeight"/> goes through the few-row kernel in a decode step; for more rows (prefill) it is widened to
/// a dense float32 copy for libtorch's GEMM (prefill is compute-bound, and the copy costs one read of the packed bytes).
/// </summary>
public static class BaseLinear
{
    /// <summary>
    /// Threads the few-row kernel splits its output over: libtorch's intra-op count, but one on a machine of two cores or
    /// fewer. There, measured in a decode step (bench decode --rows base-kernel, h1024), two threads were slower than one:
    /// between the GEMMs libtorch's OpenMP workers spin-wait on the cores the second thread needs (in the GEMMs-alone
    /// chain, with no libtorch op between them, one and two threads ran the same).
    /// </summary>
    private static readonly int Threads = Environment.ProcessorCount <= 2 ? 1 : Math.Max(1, get_num_threads());

    /// <summary>x: [T, in], weight: [out, in] stored as float32, bfloat16 or int8, bias: [out] or null → [T, out].</summary>
    public static unsafe Tensor Forward(Tensor x, PackedWeight weight, Tensor? bias, BaseKernel kernel)
    {
        if (weight.Scales is null && weight.DType == x.dtype) return Forward(x, weight.Data, bias, kernel);
        bool fewRows = kernel == BaseKernel.FewRows && CpuFewRowGemm.SupportsPacked && x.dim() == 2 && x.shape[0] <= CpuFewRowGemm.MaxRows
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
            if (weight.DType == ScalarType.BFloat16)
            {
                CpuFewRowGemm.ApplyBf16((float*)px, rows, (ushort*)pw, (float*)pb, (float*)py, inF, outF, Threads);
            }
            else
            {
                fixed (byte* ps = weight.Scales!.bytes)
                    CpuFewRowGemm.ApplyInt8((float*)px, rows, (sbyte*)pw, (float*)ps, (float*)pb, (float*)py, inF, outF, Threads);
            }
        }
        return y;
    }

    /// <summary>x: [T, in] (or [.., in] for libtorch), weight: [out, in], bias: [out] or null → [T, out].</summary>
    public static unsafe Tensor Forward(Tensor x, Tensor weight, Tensor? bias, BaseKernel kernel)
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
                CpuFewRowGemm.Apply((float*)px, rows, (float*)pw, null, (float*)py, inF, outF, Threads);
            }
            else
            {
                fixed (byte* pb = bias.bytes) CpuFewRowGemm.Apply((float*)px, rows, (float*)pw, (float*)pb, (float*)py, inF, outF, Threads);
            }
        }
        return y;
    }
}
