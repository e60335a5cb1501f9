using LoraSqueeze.Core.Torch;
using static TorchSharp.torch;

namespace LoraSqueeze.Core.Tests;

/// <summary>
/// <see cref="TensorAddress"/>: the address <c>Tensor.bytes</c> gives, views included (their storage offset), and an
/// address for a tensor of 2 GiB or more, which <c>bytes</c> cannot describe — the case the kernels needed it for.
/// </summary>
public unsafe class TensorAddressTests
{
    [Fact]
    public void It_is_the_first_element_bytes_points_at_views_included()
    {
        TorchRuntime.EnsureInitialized();
        using var scope = NewDisposeScope();
        var t = arange(60, dtype: ScalarType.Float32).view(6, 10);
        var view = t.narrow(0, 2, 3).narrow(1, 4, 5);                          // [3, 5] at element 24, strided
        fixed (byte* p = t.bytes) Assert.Equal((nint)p, (nint)TensorAddress.Of(t));
        Assert.Equal((nint)TensorAddress.Of(t) + 24 * sizeof(float), (nint)TensorAddress.Of(view));
        Assert.Equal(24f, *(float*)TensorAddress.Of(view));
        Assert.Throws<ArgumentException>(() => TensorAddress.Of(t.to(new Device("meta"))));   // no host memory
    }

    [Fact]
    public void It_addresses_a_tensor_larger_than_a_span_can_describe()
    {
        TorchRuntime.EnsureInitialized();
        using var scope = NewDisposeScope();
        long n = (1L << 31) + 4096;                                              // 2 GiB + 4 KiB of int8, untouched but the last page
        var big = empty(n, dtype: ScalarType.Int8);
        Assert.ThrowsAny<Exception>(() => big.bytes.Length);                   // what the kernels could not use
        byte* p = TensorAddress.Of(big);
        p[n - 1] = 123;
        Assert.Equal((sbyte)123, big[n - 1].item<sbyte>());
    }
}
