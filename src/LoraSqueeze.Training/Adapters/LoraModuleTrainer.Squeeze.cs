using LoraSqueeze.Core.Squeeze;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Adapters;

public sealed partial class LoraModuleTrainer
{
    /// <summary>
    /// Squeezes the whole update (merged periods included) to <paramref name="rank"/> through the exact factored SVD
    /// of the squeeze engine, then splits it evenly and unfolds the new scale: A = √Σ·Vᵀ/√s', B = U·√Σ/√s', so
    /// s'·B·A is the rank-r truncation (LoRA-Squeeze, arXiv 2602.10993, Algorithm 1, both factors balanced; docs/squeeze.md "The maths"). Returns the retained
    /// energy Σ_{i≤r}σᵢ²/Σσᵢ².
    /// </summary>
    public double SqueezeTo(int rank, double newScale)
    {
        var (p, q) = Factors();
        double retained;
        Tensor newA, newB;
        using (p)
        using (q)
        using (var svd = ExactFactoredSvd.Compute(p, q))
        {
            var module = BalancedSplit.ToModule(ModulePath, svd, rank, OutFeatures, InFeatures);
            double root = Math.Sqrt(newScale);
            newA = module.A.div(root);
            newB = module.B.div(root);
            module.A.Dispose();
            module.B.Dispose();
            retained = svd.RetainedEnergy(rank);
        }
        MergedP?.Dispose();
        MergedQ?.Dispose();
        MergedP = null;
        MergedQ = null;
        Replace(newA, newB, newScale);
        return retained;
    }

}
