using LoraSqueeze.Core.Adapters;
using TorchSharp;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// Turns a decomposition into a rank-r standard LoRA module with the scaling folded in (effective scale 1, so the
/// written config has lora_alpha = r): B' = U_r·√S_r [out, r], A' = √S_r·V_rᵀ [r, in] — the balanced split every
/// LoRA-Squeeze implementation uses (LoRA-Squeeze, arXiv 2602.10993, Algorithm 1; docs/squeeze.md "The maths"), which keeps both factors the same size in
/// norm. When fewer than r triplets exist (true rank below r) the remaining rows/columns are zero, so B'·A' is still
/// exactly the retained ΔW.
/// </summary>
public static class BalancedSplit
{
    public static LoraModule ToModule(string modulePath, SpectralDecomposition svd, int rank, long outFeatures, long inFeatures)
    {
        using var scope = torch.NewDisposeScope();
        int kept = Math.Min(rank, svd.Count);
        var b = torch.zeros(outFeatures, rank, dtype: torch.ScalarType.Float32); // [out, r]
        var a = torch.zeros(rank, inFeatures, dtype: torch.ScalarType.Float32);  // [r, in]
        if (kept > 0)
        {
            var (bk, ak) = svd.BalancedFactors(kept);                          // [out, kept], [kept, in]
            b.narrow(1, 0, kept).copy_(bk);
            a.narrow(0, 0, kept).copy_(ak);
        }
        // LoraWeights owns its factors: detach them from every dispose scope.
        return new LoraModule(modulePath, a.DetachFromDisposeScope(), b.DetachFromDisposeScope());
    }
}
