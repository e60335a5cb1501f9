using TorchSharp;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// A (possibly truncated) SVD of one module's ΔW in float64: U [out, k], S [k] descending, Vh [k, in], plus
/// ‖ΔW‖²_F so retained energy and error can be stated even when only the leading k values were computed. Owns its
/// tensors.
/// </summary>
public sealed class SpectralDecomposition(torch.Tensor u, torch.Tensor s, torch.Tensor vh, double totalEnergy) : IDisposable
{
    public torch.Tensor U { get; } = u.DetachFromDisposeScope();

    public torch.Tensor S { get; } = s.DetachFromDisposeScope();

    public torch.Tensor Vh { get; } = vh.DetachFromDisposeScope();

    /// <summary>‖ΔW‖²_F = Σ over all singular values σᵢ².</summary>
    public double TotalEnergy { get; } = totalEnergy;

    /// <summary>Number of singular triplets held.</summary>
    public int Count => (int)S.shape[0];

    /// <summary>The held singular values.</summary>
    public double[] Values() => S.data<double>().ToArray();

    /// <summary>Σ_{i≤r} σᵢ² / ‖ΔW‖²_F (1 for ΔW = 0).</summary>
    public double RetainedEnergy(int r)
    {
        if (TotalEnergy <= 0) return 1.0;
        var v = Values();
        double kept = 0;
        for (int i = 0; i < Math.Min(r, v.Length); i++) kept += v[i] * v[i];
        return Math.Clamp(kept / TotalEnergy, 0, 1);
    }

    /// <summary>‖ΔW − ΔW_r‖_F / ‖ΔW‖_F = √(1 − retained): exact because ΔW_r is an orthogonal projection of ΔW.</summary>
    public double RelativeError(int r) => Math.Sqrt(Math.Max(0, 1 - RetainedEnergy(r)));

    public void Dispose()
    {
        U.Dispose();
        S.Dispose();
        Vh.Dispose();
    }
}
