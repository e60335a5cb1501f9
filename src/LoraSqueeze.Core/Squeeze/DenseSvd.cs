using LoraSqueeze.Core.Adapters;
using TorchSharp;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// The reference path: materialise ΔW and run a full <c>linalg.svd</c> (what PEFT's SVD merge and mergekit do).
/// Slow and memory-hungry (O(out·in) memory, O(out·in·min) time); kept for tests and the benchmark.
/// </summary>
public static class DenseSvd
{
    /// <summary>Full thin SVD of the dense ΔW of <paramref name="delta"/>, in float64.</summary>
    public static SpectralDecomposition Compute(IModuleDelta delta, bool float64 = true)
    {
        using var scope = torch.NewDisposeScope();
        var dense = delta.Rows(0, delta.OutFeatures); // [out, in]
        return Compute(dense, float64);
    }

    /// <summary>Full thin SVD of a dense matrix.</summary>
    public static SpectralDecomposition Compute(torch.Tensor dense, bool float64 = true)
    {
        using var scope = torch.NewDisposeScope();
        var m = float64 ? dense.to_type(torch.ScalarType.Float64) : dense;
        var (u, s, vh) = torch.linalg.svd(m, fullMatrices: false);
        var s64 = s.to_type(torch.ScalarType.Float64);
        double total = s64.square().sum().item<double>();
        return new SpectralDecomposition(
            u.to_type(torch.ScalarType.Float64).MoveToOuterDisposeScope(), s64.MoveToOuterDisposeScope(),
            vh.to_type(torch.ScalarType.Float64).MoveToOuterDisposeScope(), total);
    }
}
