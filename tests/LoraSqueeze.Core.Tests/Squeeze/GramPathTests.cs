using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Testing;
using TorchSharp;
using static LoraSqueeze.Testing.AdapterFixture;

namespace LoraSqueeze.Core.Tests.Squeeze;

/// <summary>The Gram/eigh exact path (what the squeeze runs) against the thin-QR reference path and the dense SVD.</summary>
public sealed class GramPathTests : IDisposable
{
    private readonly AdapterFixture _fx = new();

    private static torch.Tensor Dense64(torch.Tensor p, torch.Tensor q) =>
        p.to_type(torch.ScalarType.Float64).matmul(q.to_type(torch.ScalarType.Float64)); // [out, in]

    private static torch.Tensor Truncated(SpectralDecomposition svd, int r)
    {
        var (b, a) = svd.BalancedFactors(Math.Min(r, svd.Count)); // [out, r], [r, in]
        return b.matmul(a);
    }

    [Theory]
    [InlineData(64, 64, 16, 4)]
    [InlineData(40, 90, 12, 5)]
    [InlineData(120, 30, 20, 8)]
    [InlineData(10, 50, 16, 6)] // k > out: at most 10 singular values
    public void GramPathMatchesQrReferenceAndDenseOptimum(int outF, int inF, int k, int r)
    {
        using var scope = torch.NewDisposeScope();
        var p = _fx.Randn(outF, k).mul(0.3);
        var q = _fx.Randn(k, inF);
        using var gram = GramFactoredSvd.Compute(p, q);
        using var qr = ExactFactoredSvd.Compute(p, q);
        Assert.Equal(qr.Count, gram.Count);
        Assert.True(torch.allclose(gram.S, qr.S, rtol: 1e-10, atol: 1e-12 * qr.S[0].item<double>()), "singular values differ");
        Assert.Equal(qr.TotalEnergy, gram.TotalEnergy, 1e-9 * qr.TotalEnergy);

        var dense = Dense64(p, q);
        var (u, s, vh) = torch.linalg.svd(dense, fullMatrices: false);
        var optimum = u.narrow(1, 0, r).mul(s.narrow(0, 0, r)).matmul(vh.narrow(0, 0, r)); // Eckart–Young
        Assert.True(RelErr(Truncated(gram, r), optimum) < 1e-9, "Gram path is not the truncated SVD");
        Assert.True(RelErr(Truncated(gram, r), Truncated(qr, r)) < 1e-9, "Gram and QR paths disagree");
        Assert.True(RelErr(Truncated(gram, k), dense) < 1e-9, "full rank does not reproduce ΔW");
        // Materialised singular vectors are orthonormal, like the QR path's.
        var eye = torch.eye(gram.Count, dtype: torch.ScalarType.Float64);
        Assert.True(torch.allclose(gram.U.T.matmul(gram.U), eye, atol: 1e-9));
        Assert.True(torch.allclose(gram.Vh.matmul(gram.Vh.T), eye, atol: 1e-9));
    }

    [Fact]
    public void RankDeficientFactorsAreExactToo()
    {
        using var scope = torch.NewDisposeScope();
        // True rank 3 inside a width-8 factorisation: duplicated and zero columns make both Gram matrices singular.
        var basis = _fx.Randn(50, 3);
        var p = torch.cat([basis, basis.narrow(1, 0, 2).mul(2), torch.zeros(50, 3)], 1); // [50, 8]
        var q = _fx.Randn(8, 40);
        using var gram = GramFactoredSvd.Compute(p, q);
        using var qr = ExactFactoredSvd.Compute(p, q);
        var dense = Dense64(p, q);
        foreach (int r in new[] { 2, 3, 6 })
        {
            Assert.True(RelErr(Truncated(gram, r), Truncated(qr, r)) < 1e-7, $"rank {r}: Gram and QR disagree");
            Assert.Equal(qr.RetainedEnergy(r), gram.RetainedEnergy(r), 9);
        }
        Assert.True(RelErr(Truncated(gram, 6), dense) < 1e-7);
        Assert.True(gram.Values()[3] < 1e-6 * gram.Values()[0]);
    }

    [Fact]
    public void ZeroFactorGivesZeroOutput()
    {
        using var scope = torch.NewDisposeScope();
        // A LoRA saved right after initialisation: B = 0.
        using var delta = DeltaFactory.Lora("m", AdapterKind.Lora, _fx.Randn(4, 12), torch.zeros(10, 4), 2.0);
        using var gram = GramFactoredSvd.Compute(delta.P, delta.Q);
        Assert.Equal(0, gram.TotalEnergy);
        var m = BalancedSplit.ToModule("m", gram, 2, 10, 12);
        Assert.Equal(0f, m.A.abs().sum().item<float>());
        Assert.Equal(0f, m.B.abs().sum().item<float>());
        Assert.Equal(1.0, gram.RetainedEnergy(2));
    }

    public void Dispose() => _fx.Dispose();
}
