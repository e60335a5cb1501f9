using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// Builds each factored kind's exact ΔW = P·Q from its own definition (adapter-formats.md §5, §6, §8, §12; PEFT
/// <c>get_delta_weight</c> of each tuner). Inputs are borrowed; the returned delta owns new tensors.
/// </summary>
public static class DeltaFactory
{
    /// <summary>LoRA / rsLoRA (PEFT tuners/lora/layer.py): ΔW = s·B·A, B [out, r], A [r, in].</summary>
    public static FactoredDelta Lora(string path, AdapterKind kind, torch.Tensor a, torch.Tensor b, double scale)
    {
        using var scope = torch.NewDisposeScope();
        var p = b.mul(scale).MoveToOuterDisposeScope(); // [out, r]
        var q = a.clone().MoveToOuterDisposeScope();    // [r, in]
        return new FactoredDelta(path, kind, p, q);
    }

    /// <summary>
    /// AdaLoRA (PEFT tuners/adalora/layer.py SVDLinear.get_delta_weight): ΔW = B·(A ⊙ E)·scale/(ranknum + 1e-5),
    /// i.e. P = c·B·diag(E), Q = A, with E [r, 1].
    /// </summary>
    public static FactoredDelta AdaLora(string path, torch.Tensor a, torch.Tensor b, torch.Tensor e, double scale)
    {
        using var scope = torch.NewDisposeScope();
        var p = b.mul(e.reshape(1, -1)).mul_(scale).MoveToOuterDisposeScope(); // [out, r] · diag(E)
        var q = a.clone().MoveToOuterDisposeScope();                            // [r, in]
        return new FactoredDelta(path, AdapterKind.AdaLora, p, q);
    }

    /// <summary>
    /// VeRA (PEFT tuners/vera/layer.py): ΔW = (λ_b ⊙ B[:out, :]) · (λ_d ⊙ A[:, :in]), with shared
    /// vera_A [r, max_in], vera_B [max_out, r], λ_b [out], λ_d [r].
    /// </summary>
    public static FactoredDelta Vera(string path, torch.Tensor veraA, torch.Tensor veraB, torch.Tensor lambdaB, torch.Tensor lambdaD, long outFeatures, long inFeatures)
    {
        using var scope = torch.NewDisposeScope();
        var p = veraB.narrow(0, 0, outFeatures).mul(lambdaB.reshape(-1, 1)).mul_(lambdaD.reshape(1, -1)).MoveToOuterDisposeScope(); // [out, r]
        var q = veraA.narrow(1, 0, inFeatures).clone().MoveToOuterDisposeScope(); // [r, in]
        return new FactoredDelta(path, AdapterKind.Vera, p, q);
    }

    /// <summary>
    /// LoHa (PEFT tuners/loha/layer.py): ΔW = s·(W1a·W1b) ⊙ (W2a·W2b). The Hadamard product of two rank-r products is
    /// exactly P·Q with the row-wise Kronecker (Khatri–Rao) factors P[i, a·r2+c] = W1a[i,a]·W2a[i,c] and
    /// Q[a·r2+c, j] = W1b[a,j]·W2b[c,j], width r1·r2.
    /// </summary>
    public static FactoredDelta LoHa(string path, torch.Tensor w1a, torch.Tensor w1b, torch.Tensor w2a, torch.Tensor w2b, double scale)
    {
        using var scope = torch.NewDisposeScope();
        long outF = w1a.shape[0], inF = w1b.shape[1], r1 = w1a.shape[1], r2 = w2a.shape[1];
        var p = w1a.unsqueeze(2).mul(w2a.unsqueeze(1)).reshape(outF, r1 * r2).mul_(scale).MoveToOuterDisposeScope(); // [out, r1·r2]
        var q = w1b.unsqueeze(1).mul(w2b.unsqueeze(0)).reshape(r1 * r2, inF).MoveToOuterDisposeScope();              // [r1·r2, in]
        return new FactoredDelta(path, AdapterKind.LoHa, p, q);
    }

    /// <summary>
    /// LoKr (PEFT tuners/lokr/layer.py): ΔW = s·kron(W1, W2). With W1 = P1·Q1 and W2 = P2·Q2 (the stored low-rank
    /// pair, or a full factor against an identity on its smaller side) the mixed-product rule gives
    /// kron(W1, W2) = kron(P1, P2)·kron(Q1, Q2): exact, width k1·k2.
    /// </summary>
    public static FactoredDelta LoKr(string path, (torch.Tensor P, torch.Tensor Q) w1, (torch.Tensor P, torch.Tensor Q) w2, double scale)
    {
        using var scope = torch.NewDisposeScope();
        var p = torch.kron(w1.P, w2.P).mul_(scale).MoveToOuterDisposeScope(); // [out_l·out_k, k1·k2]
        var q = torch.kron(w1.Q, w2.Q).MoveToOuterDisposeScope();             // [k1·k2, in_m·in_n]
        return new FactoredDelta(path, AdapterKind.LoKr, p, q);
    }

    /// <summary>A full factor W [m, n] as (P, Q) of width min(m, n): (W, I) or (I, W).</summary>
    public static (torch.Tensor P, torch.Tensor Q) FullAsFactors(torch.Tensor w)
    {
        long m = w.shape[0], n = w.shape[1];
        return n <= m
            ? (w, torch.eye(n, dtype: w.dtype))  // [m, n]·[n, n]
            : (torch.eye(m, dtype: w.dtype), w); // [m, m]·[m, n]
    }
}
