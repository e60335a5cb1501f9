using TorchSharp;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// The exact SVD of ΔW = P·Q without forming ΔW (LoRA-Squeeze "Algorithm 2", arXiv 2602.10993; docs/squeeze.md "The maths"):
/// P = Q_P·R_P, Qᵀ = Q_Q·R_Q (thin QR), core C = R_P·R_Qᵀ (k×k), C = U_c Σ V_cᵀ, so
/// ΔW = (Q_P U_c) Σ (Q_Q V_c)ᵀ exactly. Cost O((out+in)·k²) instead of O(out·in·k). Done in float64 so the
/// trailing singular values (and with them the reported error) are not swamped by float32 rounding.
/// This is the reference for <see cref="GramFactoredSvd"/>, which the squeeze uses: Householder QR is backward stable
/// with no condition-number squaring, but about three times the flops and much slower per flop (its panels run at
/// matrix-vector speed), so it stays for tests and the benchmark.
/// </summary>
public static class ExactFactoredSvd
{
    /// <summary>All min(k, out, in) singular triplets of P·Q; P [out, k], Q [k, in].</summary>
    public static SpectralDecomposition Compute(torch.Tensor p, torch.Tensor q)
    {
        using var scope = torch.NewDisposeScope();
        long outF = p.shape[0], inF = q.shape[1], k = p.shape[1];
        if (k == 0)
        {
            return new SpectralDecomposition(
                torch.zeros(outF, 0, dtype: torch.ScalarType.Float64).MoveToOuterDisposeScope(),
                torch.zeros(0, dtype: torch.ScalarType.Float64).MoveToOuterDisposeScope(),
                torch.zeros(0, inF, dtype: torch.ScalarType.Float64).MoveToOuterDisposeScope(), 0);
        }
        var p64 = p.to_type(torch.ScalarType.Float64);
        var q64 = q.to_type(torch.ScalarType.Float64);
        var (qp, rp) = torch.linalg.qr(p64);     // [out, m1], [m1, k] with m1 = min(out, k)
        var (qq, rq) = torch.linalg.qr(q64.T);   // [in, m2],  [m2, k] with m2 = min(in, k)
        var core = rp.matmul(rq.T);               // [m1, m2]
        var (uc, s, vhc) = torch.linalg.svd(core, fullMatrices: false); // [m1, c], [c], [c, m2]
        var u = qp.matmul(uc);                    // [out, c]
        var vh = vhc.matmul(qq.T);                // [c, in]
        double total = s.square().sum().item<double>();
        return new SpectralDecomposition(u.MoveToOuterDisposeScope(), s.MoveToOuterDisposeScope(), vh.MoveToOuterDisposeScope(), total);
    }
}
