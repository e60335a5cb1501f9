using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Testing;
using TorchSharp;
using static LoraSqueeze.Testing.AdapterFixture;

namespace LoraSqueeze.Core.Tests.Squeeze;

/// <summary>Randomized SVD against the Eckart–Young optimum on decaying spectra, and its reproducibility.</summary>
public sealed class RandomizedSvdTests : IDisposable
{
    private readonly AdapterFixture _fx = new();

    /// <summary>A [out, in] delta with singular values decay^i and random singular vectors.</summary>
    private FullWeightDelta Decaying(int outF, int inF, double decay)
    {
        int k = Math.Min(outF, inF);
        var (u, _) = torch.linalg.qr(_fx.Randn(outF, k));
        var (v, _) = torch.linalg.qr(_fx.Randn(inF, k));
        var s = torch.pow(torch.tensor(decay, dtype: torch.ScalarType.Float32), torch.arange(k, dtype: torch.ScalarType.Float32));
        var delta = u.mul(s.unsqueeze(0)).matmul(v.T); // [out, in]
        var baseW = _fx.Randn(outF, inF);
        return new FullWeightDelta("m", baseW.add(delta), baseW);
    }

    [Theory]
    [InlineData(120, 80, 0.85, 8)]
    [InlineData(64, 150, 0.9, 12)]
    public void RsvdErrorIsWithinFivePercentOfOptimum(int outF, int inF, double decay, int rank)
    {
        using var scope = torch.NewDisposeScope();
        using var delta = Decaying(outF, inF, decay);
        using var exact = DenseSvd.Compute(delta);
        using var approx = RandomizedSvd.Compute(delta, rank, oversample: 10, powerIterations: 2, seed: 7);
        var module = BalancedSplit.ToModule("m", approx, rank, outF, inF);
        var dense = delta.Rows(0, outF);
        double err = RelErr(AdapterSqueezer.Dense(module), dense);
        double optimum = exact.RelativeError(rank);
        Assert.True(err <= 1.05 * optimum, $"rsvd error {err} vs optimum {optimum}");
        // The reported error is the true error of the emitted factors.
        Assert.Equal(err, approx.RelativeError(rank), 4);
    }

    [Fact]
    public void SameSeedSameOutputDifferentSeedDifferentProbe()
    {
        using var scope = torch.NewDisposeScope();
        using var delta = Decaying(50, 40, 0.8);
        using var a = RandomizedSvd.Compute(delta, 6, seed: 3);
        using var b = RandomizedSvd.Compute(delta, 6, seed: 3);
        using var c = RandomizedSvd.Compute(delta, 6, seed: 4);
        Assert.True(Same(a.U, b.U) && Same(a.S, b.S) && Same(a.Vh, b.Vh));
        Assert.False(Same(a.U, c.U));
    }

    [Fact]
    public void RsvdOnFactoredInputMatchesExactPath()
    {
        using var scope = torch.NewDisposeScope();
        using var delta = DeltaFactory.Lora("m", AdapterKind.Lora, _fx.Randn(6, 40), _fx.Randn(30, 6), 1.0);
        using var exact = ExactFactoredSvd.Compute(delta.P, delta.Q);
        using var approx = RandomizedSvd.Compute(delta, 6);
        // Rank 6 exactly: the randomized range finder captures it, so the leading values agree.
        Assert.True(torch.allclose(approx.S.narrow(0, 0, 6), exact.S.narrow(0, 0, 6), rtol: 1e-4, atol: 1e-6));
    }

    public void Dispose() => _fx.Dispose();
}
