using LoraSqueeze.Core.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraSqueeze.Core.Tests;

/// <summary>The native backend loads on this host (Debian 12 needs the GLIBCXX patch) and its linear algebra works.</summary>
public class TorchBackendTests
{
    [Fact]
    public void NativeBackendLoadsAndRunsQrSvdMatmul()
    {
        TorchRuntime.EnsureInitialized();
        using var scope = torch.NewDisposeScope();
        var gen = new torch.Generator(1234);
        var a = torch.randn(new long[] { 40, 12 }, dtype: ScalarType.Float64, generator: gen);

        var (q, r) = linalg.qr(a);
        Assert.True(torch.allclose(q.matmul(r), a, rtol: 1e-10, atol: 1e-10), "QR does not reconstruct A");
        var qtq = q.T.matmul(q);
        Assert.True(torch.allclose(qtq, torch.eye(12, dtype: ScalarType.Float64), atol: 1e-10), "Q is not orthonormal");

        var (u, s, vh) = linalg.svd(a, fullMatrices: false);
        Assert.Equal(new long[] { 40, 12 }, u.shape);
        var rebuilt = u.matmul(torch.diag(s)).matmul(vh);
        Assert.True(torch.allclose(rebuilt, a, rtol: 1e-10, atol: 1e-10), "SVD does not reconstruct A");
        // Singular values are sorted descending and non-negative.
        var sv = s.data<double>().ToArray();
        for (int i = 1; i < sv.Length; i++) Assert.True(sv[i - 1] >= sv[i]);
        Assert.True(sv[^1] >= 0);

        // matmul against a hand-computed product.
        var m1 = torch.tensor(new float[] { 1, 2, 3, 4 }).reshape(2, 2);
        var m2 = torch.tensor(new float[] { 5, 6, 7, 8 }).reshape(2, 2);
        Assert.Equal(new float[] { 19, 22, 43, 50 }, m1.matmul(m2).data<float>().ToArray());
    }

    [Fact]
    public void BackendIsCpuByDefault()
    {
        Assert.Equal("cpu", TorchRuntime.Backend);
        Assert.Equal(DeviceType.CPU, TorchRuntime.ResolveDevice("cpu").type);
    }

    [Theory]
    [InlineData("cuda")]
    [InlineData("cuda:1")]
    public void CudaRequestWithoutCudaSaysWhatToInstall(string spec)
    {
        if (torch.cuda.is_available()) return; // only meaningful on a CPU-only host, which is what CI is
        var ex = Assert.Throws<InvalidOperationException>(() => TorchRuntime.ResolveDevice(spec));
        Assert.Contains("TorchBackend=cuda", ex.Message);
    }

    [Theory]
    [InlineData("gpu")]
    [InlineData("cuda:x")]
    [InlineData("cuda:-1")]
    public void UnknownDeviceIsRefused(string spec)
    {
        var ex = Assert.Throws<ArgumentException>(() => TorchRuntime.ResolveDevice(spec));
        Assert.Contains(spec, ex.Message);
    }
}
