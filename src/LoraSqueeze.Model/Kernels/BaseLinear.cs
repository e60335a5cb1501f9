using static TorchSharp.torch;

namespace LoraSqueeze.Model.Kernels;

/// <summary>x·Wᵀ + b through the chosen <see cref="BaseKernel"/>; libtorch's <c>linear</c> is the reference.</summary>
public static class BaseLinear
{
    /// <summary>
    /// Threads the few-row kernel splits its output over: libtorch's intra-op count, but one on a machine of two cores or
    /// fewer. There, measured in a decode step (bench decode --rows base-kernel, h1024), two threads were slower than one:
    /// between the GEMMs libtorch's OpenMP workers spin-wait on the cores the second thread needs (in the GEMMs-alone
    /// chain, with no libtorch op between them, one and two threads ran the same).
    /// </summary>
    private static readonly int Threads = Environment.ProcessorCount <= 2 ? 1 : Math.Max(1, get_num_threads());

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
