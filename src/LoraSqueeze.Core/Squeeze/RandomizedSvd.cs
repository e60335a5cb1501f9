using LoraSqueeze.Core.Adapters;
using TorchSharp;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// Randomized SVD (Halko, Martinsson and Tropp 2011, "Finding structure with randomness", Alg. 4.4 with the
/// re-orthonormalised subspace iteration), through the operator interface only: ΔW·X and ΔWᵀ·Y, never ΔW itself.
/// A seeded <c>torch.Generator</c> makes the result repeat. Products run in float32 (the cost), the small final SVD in
/// float64. ‖ΔW‖²_F for the energy report is summed a block of rows at a time.
/// </summary>
public static class RandomizedSvd
{
    private const long RowBlock = 1024;

    /// <summary>
    /// The leading min(rank + oversample, out, in) singular triplets of ΔW (callers truncate to <paramref name="rank"/>).
    /// </summary>
    public static SpectralDecomposition Compute(IModuleDelta delta, int rank, int oversample = 10, int powerIterations = 2, long seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(oversample);
        ArgumentOutOfRangeException.ThrowIfNegative(powerIterations);
        using var scope = torch.NewDisposeScope();
        long outF = delta.OutFeatures, inF = delta.InFeatures;
        long l = Math.Min(rank + oversample, Math.Min(outF, inF));
        using var gen = new torch.Generator((ulong)seed);
        var omega = torch.randn([inF, l], dtype: torch.ScalarType.Float32, generator: gen); // [in, l]
        var (q, _) = torch.linalg.qr(delta.Apply(omega));                                     // [out, l]
        for (int i = 0; i < powerIterations; i++)
        {
            // Re-orthonormalise after each product so the small singular directions are not lost to rounding.
            var (z, _) = torch.linalg.qr(delta.ApplyTransposed(q)); // [in, l]
            (q, _) = torch.linalg.qr(delta.Apply(z));               // [out, l]
        }
        var bt = delta.ApplyTransposed(q).to_type(torch.ScalarType.Float64);      // Bᵀ = ΔWᵀQ, [in, l]
        var (ub, s, vh) = torch.linalg.svd(bt.T, fullMatrices: false);            // B = Ub S Vh; [l, l], [l], [l, in]
        var u = q.to_type(torch.ScalarType.Float64).matmul(ub);                   // [out, l]
        double total = FrobeniusSquared(delta);
        return new SpectralDecomposition(u.MoveToOuterDisposeScope(), s.MoveToOuterDisposeScope(), vh.MoveToOuterDisposeScope(), total);
    }

    /// <summary>‖ΔW‖²_F, summed over blocks of rows in float64.</summary>
    public static double FrobeniusSquared(IModuleDelta delta)
    {
        double total = 0;
        for (long s = 0; s < delta.OutFeatures; s += RowBlock)
        {
            using var scope = torch.NewDisposeScope();
            var rows = delta.Rows(s, Math.Min(RowBlock, delta.OutFeatures - s)).to_type(torch.ScalarType.Float64);
            total += rows.square().sum().item<double>();
        }
        return total;
    }
}
