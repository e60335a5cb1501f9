using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// ΔW = P·Q with P [out, k] (scaling folded in) and Q [k, in]. LoRA, rsLoRA, AdaLoRA, VeRA, LoHa (Khatri–Rao
/// form, k = r1·r2) and LoKr (Kronecker form, k = k1·k2) all reduce to this; see <see cref="DeltaFactory"/>.
/// </summary>
public sealed class FactoredDelta : IModuleDelta
{
    /// <summary>Takes ownership of <paramref name="p"/> and <paramref name="q"/> (stored as contiguous float32).</summary>
    public FactoredDelta(string modulePath, AdapterKind kind, torch.Tensor p, torch.Tensor q)
    {
        if (p.dim() != 2 || q.dim() != 2 || p.shape[1] != q.shape[0])
            throw new AdapterFormatException($"module {modulePath}: factor shapes [{string.Join(",", p.shape)}]·[{string.Join(",", q.shape)}] do not chain");
        ModulePath = modulePath;
        Kind = kind;
        P = p.to_type(torch.ScalarType.Float32).contiguous();
        Q = q.to_type(torch.ScalarType.Float32).contiguous();
        if (!ReferenceEquals(P, p)) p.Dispose();
        if (!ReferenceEquals(Q, q)) q.Dispose();
        // This object owns its factors, whatever dispose scope the caller built them in.
        P.DetachFromDisposeScope();
        Q.DetachFromDisposeScope();
    }

    public string ModulePath { get; }

    public AdapterKind Kind { get; }

    /// <summary>[out, k], scaling folded in.</summary>
    public torch.Tensor P { get; }

    /// <summary>[k, in].</summary>
    public torch.Tensor Q { get; }

    public long OutFeatures => P.shape[0];

    public long InFeatures => Q.shape[1];

    public int SourceRank => (int)P.shape[1];

    public FactoredDelta Factors => this;

    public torch.Tensor Apply(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        return P.matmul(Q.matmul(x.to_type(torch.ScalarType.Float32))).MoveToOuterDisposeScope(); // [out, k]
    }

    public torch.Tensor ApplyTransposed(torch.Tensor y)
    {
        using var scope = torch.NewDisposeScope();
        return Q.T.matmul(P.T.matmul(y.to_type(torch.ScalarType.Float32))).MoveToOuterDisposeScope(); // [in, k]
    }

    public torch.Tensor Rows(long start, long count) => P.narrow(0, start, count).matmul(Q); // [count, in]

    public void Dispose()
    {
        P.Dispose();
        Q.Dispose();
    }
}
