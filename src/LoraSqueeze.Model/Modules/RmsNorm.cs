using static TorchSharp.torch;

namespace LoraSqueeze.Model.Modules;

/// <summary>
/// Root-mean-square layer norm, as HF <c>LlamaRMSNorm</c>: computed in float32, then cast back and scaled by the weight.
/// </summary>
public sealed class RmsNorm(string path, long size, double eps, ScalarType dtype, Device device) : IDisposable
{
    public string Path { get; } = path;
    public Tensor Weight { get; } = empty([size], dtype: dtype, device: device);

    /// <summary>x: [..., size] → same shape.</summary>
    public Tensor Forward(Tensor x)
    {
        var x32 = x.to_type(ScalarType.Float32);
        var variance = x32.pow(2).mean([-1L], keepdim: true);   // [..., 1]
        var normed = x32 * rsqrt(variance + eps);
        return Weight * normed.to_type(x.dtype);
    }

    public void Dispose() => Weight.Dispose();
}
