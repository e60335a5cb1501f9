using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace LoraSqueeze.Core.Torch;

/// <summary>
/// The address of a CPU tensor's first element, for the hand-written kernels. TorchSharp's <c>Tensor.bytes</c> is a
/// <see cref="Span{T}"/>, whose <c>int</c> length cannot describe a tensor of 2 GiB or more — a Qwen2-7B LM head in
/// float32 (152064 × 3584) is 2.2 GB, a KV-cache layer of 64 rows × 8192 positions × 8 KV heads × 128 in float32 is
/// 2 GiB — so a kernel that pinned <c>bytes</c> failed on exactly the large deployments. This reads the pointer from
/// LibTorchSharp's <c>THSTensor_data</c> (the entry point <c>bytes</c> itself uses; libtorch's <c>data_ptr()</c>,
/// storage offset included), which TorchSharp 0.107 does not expose publicly. CPU tensors live in native memory that
/// does not move, so the address stays valid while the tensor does.
/// </summary>
public static unsafe class TensorAddress
{
    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>The first element of <paramref name="tensor"/> (a CPU tensor; views point into their base's storage).</summary>
    public static byte* Of(Tensor tensor)
    {
        if (tensor.device_type != TorchSharp.DeviceType.CPU)
            throw new ArgumentException($"a {tensor.device_type} tensor has no host address", nameof(tensor));
        var p = THSTensor_data(tensor.Handle);
        if (p == IntPtr.Zero && tensor.numel() > 0) throw new InvalidOperationException("libtorch returned no data pointer for a tensor that has elements");
        return (byte*)p;
    }
}
