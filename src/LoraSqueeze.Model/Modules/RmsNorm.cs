using static TorchSharp.torch;

namespace LoraSqueeze.Model.Modules;

/// <summary>
/// Root-mean-square layer norm, as HF <c>LlamaRMSNorm</c>: computed in float32, then cast back and scaled by the weight.
/// </summary>
public sealed class RmsNorm(string path, long size, double eps, ScalarType dtype, Device device) : IDisposable
{
    public string Path { get; } = path;
    public Tensor Weight { get; } = empty([size], dtype: dtype, device: device);

    /// <summary>
    /// x: [..., size] → same shape. Float32 CPU rows outside autograd (serving) go through one fused pass
    /// (<see cref="Kernels.CpuElementwise.RmsNorm"/>); the expression below is the reference and the training path.
    /// </summary>
    public unsafe Tensor Forward(Tensor x)
    {
        if (x.device_type == TorchSharp.DeviceType.CPU && x.dtype == ScalarType.Float32 && Weight.dtype == ScalarType.Float32
            && x.dim() == 2 && x.is_contiguous() && !x.requires_grad && !Weight.requires_grad)
        {
            long rows = x.size(0), n = x.size(1);
            var y = empty([rows, n], dtype: ScalarType.Float32, device: x.device);   // [rows, size]
            fixed (byte* px = x.bytes, pw = Weight.bytes, py = y.bytes)
                Kernels.CpuElementwise.RmsNorm((float*)px, (float*)pw, (float*)py, (int)rows, (int)n, (float)eps);
            return y;
        }
        var x32 = x.to_type(ScalarType.Float32);
        var variance = x32.pow(2).mean([-1L], keepdim: true);   // [..., 1]
        var normed = x32 * rsqrt(variance + eps);
        return Weight * normed.to_type(x.dtype);
    }

    public void Dispose() => Weight.Dispose();
}
