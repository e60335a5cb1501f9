using TorchSharp;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// The exact SVD of ΔW = P·Q from the two k×k Gram matrices, without QR and without forming ΔW — the fast exact path
/// (<see cref="ExactFactoredSvd"/>, thin QR, is the reference it is tested against).
/// <para>
/// G_P = PᵀP = L_P L_Pᵀ and G_Q = QQᵀ = L_Q L_Qᵀ with L = E·Λ^½ from a symmetric eigendecomposition (unlike Cholesky
/// this accepts rank-deficient factors, e.g. a LoRA whose B is still zero). The core C = L_Pᵀ L_Q (k×k) has the same
/// nonzero singular values as P·Q: (P·Q)ᵀ(P·Q) = Qᵀ L_P L_Pᵀ Q shares its nonzero eigenvalues with
/// L_Pᵀ Q Qᵀ L_P = C·Cᵀ. With C = U_c Σ V_cᵀ, uᵢ = P·L_Q·v_c,ᵢ/σᵢ and vᵢ = Qᵀ·L_P·u_c,ᵢ/σᵢ are ΔW's singular vectors
/// (check: ΔW·vᵢ = P·G_Q·L_P·u_c,ᵢ/σᵢ = P·L_Q·Cᵀu_c,ᵢ/σᵢ = σᵢuᵢ), so the balanced factors are
/// B'ᵢ = P·L_Q·v_c,ᵢ·σᵢ^-½ and A'ᵢ = σᵢ^-½·u_c,ᵢᵀ·L_Pᵀ·Q — no inverse of L is ever needed.
/// </para>
/// <para>
/// Cost: two Gram GEMMs, 2·(out+in)·k² flops, instead of Householder QR plus forming Q (about three times the flops,
/// and a QR panel runs at matrix-vector speed). Precision: everything runs in float64. Forming a Gram matrix squares
/// the condition number, so an eigenvalue near zero is only known to ε·‖G‖ and the matching column of L to
/// √ε·‖P‖ ≈ 1.5e-8·‖P‖; a direction with σᵢ below <see cref="RelativeCutoff"/>·‖P‖₂‖Q‖₂ is therefore treated as
/// zero (its factor columns are zeroed, which changes ΔW by less than float32 output precision), the way
/// <c>matrix_rank</c> and <c>pinv</c> use a tolerance. Above it, the error of the reconstruction is O(ε·‖P‖‖Q‖).
/// </para>
/// </summary>
public static class GramFactoredSvd
{
    /// <summary>σᵢ ≤ this × ‖P‖₂‖Q‖₂ counts as numerically zero (≈ 7√ε of float64; below float32's 6e-8 resolution).</summary>
    public const double RelativeCutoff = 1e-7;

    /// <summary>All min(k, out, in) singular values of P·Q in factored form; P [out, k], Q [k, in] (borrowed).</summary>
    public static SpectralDecomposition Compute(torch.Tensor p, torch.Tensor q)
    {
        using var scope = torch.NewDisposeScope();
        long k = p.shape[1];
        if (k == 0) return ExactFactoredSvd.Compute(p, q); // Nothing to factor (an AdaLoRA module pruned to rank 0).
        var p64 = p.to_type(torch.ScalarType.Float64);
        var q64 = q.to_type(torch.ScalarType.Float64);
        var gp = p64.T.matmul(p64);                                    // [k, k] = PᵀP
        var gq = q64.matmul(q64.T);                                    // [k, k] = QQᵀ
        var (lp, ep) = torch.linalg.eigh(gp);                          // ascending eigenvalues [k], vectors [k, k]
        var (lq, eq) = torch.linalg.eigh(gq);
        var fp = ep.mul(lp.clamp_min(0).sqrt().unsqueeze(0));          // L_P [k, k], L_P·L_Pᵀ = G_P
        var fq = eq.mul(lq.clamp_min(0).sqrt().unsqueeze(0));          // L_Q [k, k]
        var core = fp.T.matmul(fq);                                    // [k, k] = L_Pᵀ·L_Q
        var (uc, s, vhc) = torch.linalg.svd(core, fullMatrices: false); // [k, c], [c], [c, k]
        long c = s.shape[0];
        int count = (int)Math.Min(c, Math.Min(p.shape[0], q.shape[1]));
        double norms = Math.Sqrt(Math.Max(0, lp.max().item<double>()) * Math.Max(0, lq.max().item<double>())); // ‖P‖₂·‖Q‖₂
        var alive = s.gt(RelativeCutoff * norms);
        var invRoot = torch.where(alive, s.clamp_min(double.Epsilon).rsqrt(), torch.zeros_like(s)); // [c]
        var bMap = fq.matmul(vhc.T).mul(invRoot.unsqueeze(0));         // [k, c]: column i = L_Q·v_c,i/√σᵢ
        var aMap = uc.T.matmul(fp.T).mul(invRoot.unsqueeze(1));        // [c, k]: row i = u_c,iᵀ·L_Pᵀ/√σᵢ
        var sKept = s.narrow(0, 0, count);
        double total = s.square().sum().item<double>();
        return SpectralDecomposition.FromFactors(p, bMap.narrow(1, 0, count).contiguous().MoveToOuterDisposeScope(),
            sKept.contiguous().MoveToOuterDisposeScope(), aMap.narrow(0, 0, count).contiguous().MoveToOuterDisposeScope(), q, total);
    }
}
