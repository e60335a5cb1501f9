using TorchSharp;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// A (possibly truncated) SVD of one module's ΔW: S [k] descending in float64, plus ‖ΔW‖²_F so retained energy and
/// error can be stated even when only the leading k values were computed. Held in one of two forms:
/// <list type="bullet">
/// <item>explicit: U [out, k] and Vh [k, in] in float64 (randomized and dense paths, the QR reference path);</item>
/// <item>factored (<see cref="FromFactors"/>, the Gram path): the balanced factors are B'_k = P·BMap[:, :k] and
/// A'_k = AMap[:k, :]·Q with small float64 maps [k, k], so nothing of size out×k or k×in is kept per module while the
/// ranks of a whole adapter are chosen. P and Q are borrowed from the module's <c>FactoredDelta</c> and must outlive
/// this object.</item>
/// </list>
/// Owns every tensor except the borrowed P and Q.
/// </summary>
public sealed class SpectralDecomposition : IDisposable
{
    private readonly torch.Tensor? _p, _bMap, _aMap, _q;
    private torch.Tensor? _u, _vh;

    /// <summary>Explicit form: U [out, k], S [k], Vh [k, in] (float64); takes ownership.</summary>
    public SpectralDecomposition(torch.Tensor u, torch.Tensor s, torch.Tensor vh, double totalEnergy)
    {
        _u = u.DetachFromDisposeScope();
        S = s.DetachFromDisposeScope();
        _vh = vh.DetachFromDisposeScope();
        TotalEnergy = totalEnergy;
    }

    private SpectralDecomposition(torch.Tensor p, torch.Tensor bMap, torch.Tensor s, torch.Tensor aMap, torch.Tensor q, double totalEnergy)
    {
        _p = p;
        _q = q;
        _bMap = bMap.DetachFromDisposeScope();
        _aMap = aMap.DetachFromDisposeScope();
        S = s.DetachFromDisposeScope();
        TotalEnergy = totalEnergy;
    }

    /// <summary>
    /// Factored form of the SVD of P·Q: column i of P·<paramref name="bMap"/> is uᵢ·√σᵢ and row i of
    /// <paramref name="aMap"/>·Q is √σᵢ·vᵢᵀ (zero for numerically zero σᵢ). Borrows <paramref name="p"/> [out, k] and
    /// <paramref name="q"/> [k, in]; takes ownership of the maps and <paramref name="s"/>.
    /// </summary>
    public static SpectralDecomposition FromFactors(torch.Tensor p, torch.Tensor bMap, torch.Tensor s, torch.Tensor aMap, torch.Tensor q, double totalEnergy) =>
        new(p, bMap, s, aMap, q, totalEnergy);

    /// <summary>Left singular vectors [out, k], float64 (materialised on first use in the factored form).</summary>
    public torch.Tensor U => _u ??= Unbalance(true);

    /// <summary>Singular values [k], float64, descending.</summary>
    public torch.Tensor S { get; }

    /// <summary>Right singular vectors as rows [k, in], float64 (materialised on first use in the factored form).</summary>
    public torch.Tensor Vh => _vh ??= Unbalance(false);

    /// <summary>‖ΔW‖²_F = Σ over all singular values σᵢ².</summary>
    public double TotalEnergy { get; }

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

    /// <summary>
    /// The balanced split of the leading <paramref name="kept"/> triplets (kept ≤ <see cref="Count"/>), as new float64
    /// tensors: B' = U_k·√S_k [out, kept] and A' = √S_k·Vh_k [kept, in].
    /// </summary>
    public (torch.Tensor B, torch.Tensor A) BalancedFactors(int kept)
    {
        using var scope = torch.NewDisposeScope();
        if (_p is not null)
        {
            var b = _p.to_type(torch.ScalarType.Float64).matmul(_bMap!.narrow(1, 0, kept)); // [out, k]·[k, kept]
            var a = _aMap!.narrow(0, 0, kept).matmul(_q!.to_type(torch.ScalarType.Float64)); // [kept, k]·[k, in]
            return (b.MoveToOuterDisposeScope(), a.MoveToOuterDisposeScope());
        }
        var root = S.narrow(0, 0, kept).clamp_min(0).sqrt();                       // [kept]
        var bb = _u!.narrow(1, 0, kept).mul(root.unsqueeze(0));                      // [out, kept]
        var aa = _vh!.narrow(0, 0, kept).mul(root.unsqueeze(1));                     // [kept, in]
        return (bb.MoveToOuterDisposeScope(), aa.MoveToOuterDisposeScope());
    }

    // Factored form only: uᵢ = (P·BMap)ᵢ/√σᵢ and vᵢᵀ = (AMap·Q)ᵢ/√σᵢ; zero where σᵢ was numerically zero.
    private torch.Tensor Unbalance(bool left)
    {
        using var scope = torch.NewDisposeScope();
        var (b, a) = BalancedFactors(Count);
        var inv = torch.where(S.gt(0), S.clamp_min(double.Epsilon).rsqrt(), torch.zeros_like(S)); // [k]
        var result = left ? b.mul(inv.unsqueeze(0)) : a.mul(inv.unsqueeze(1));
        return result.DetachFromDisposeScope();
    }

    public void Dispose()
    {
        _u?.Dispose();
        S.Dispose();
        _vh?.Dispose();
        _bMap?.Dispose();
        _aMap?.Dispose();
    }
}
