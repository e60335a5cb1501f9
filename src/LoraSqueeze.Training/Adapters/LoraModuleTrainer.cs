using static TorchSharp.torch;

namespace LoraSqueeze.Training.Adapters;

/// <summary>
/// LoRA on one projection (Hu et al. 2021; PEFT <c>tuners/lora/layer.py</c>): y + s·(x·Aᵀ)·Bᵀ with A [r, in]
/// (kaiming-uniform) and B [out, r] (zeros), s = α/r, or α/√r for rsLoRA (Kalajdzievski 2023). LoRA-FA freezes A.
/// PeriodicLoRA (Meng et al. 2024) folds s·B·A into <see cref="MergedP"/>·<see cref="MergedQ"/> at each period and
/// re-initialises A and B; the merged update stays factored (width = periods·r), so the final squeeze is still the exact
/// factored one. DoRA (Liu et al. 2024) adds the magnitude vector m: y = (m/‖W0 + sBA‖_row)⊙(W0 + sBA)·x + b, the row
/// norm detached as in the paper §4.3 and PEFT's <c>DoraLinearLayer</c>.
/// </summary>
public sealed partial class LoraModuleTrainer : TrainableModule
{
    public LoraModuleTrainer(string modulePath, long inFeatures, long outFeatures, int rank, double scale, bool freezeA,
        bool dora, Tensor? baseWeight, Generator gen)
        : base(modulePath, inFeatures, outFeatures)
    {
        Scale = scale;
        FreezeA = freezeA;
        A = KaimingUniformA(rank, inFeatures, gen).requires_grad_(!freezeA); // [r, in]
        B = zeros(outFeatures, rank).requires_grad_(true);                  // [out, r]
        if (dora)
        {
            using var _ = no_grad();
            Magnitude = baseWeight!.norm(1, keepdim: false).detach().clone().requires_grad_(true); // [out], ‖W0‖ per row
        }
    }

    public Tensor A { get; private set; }
    public Tensor B { get; private set; }
    public Tensor? Magnitude { get; }
    public double Scale { get; private set; }
    public bool FreezeA { get; }
    public int Rank => (int)A.shape[0];

    /// <summary>PeriodicLoRA's folded updates, ΔW_merged = P·Q (scale included), or null before the first merge.</summary>
    public Tensor? MergedP { get; private set; } // [out, k]
    public Tensor? MergedQ { get; private set; } // [k, in]

    public override Tensor Forward(Tensor x, Tensor baseWeight, Tensor y)
    {
        var lora = x.matmul(A.t()).matmul(B.t()).mul(Scale);             // [.., in]·[in, r]·[r, out] → [.., out]
        if (MergedP is not null) lora = lora + x.matmul(MergedQ!.t()).matmul(MergedP.t());
        if (Magnitude is null) return y + lora;
        // DoRA: d = m / ‖W0 + ΔW‖_row (detached); y' = d ⊙ (W0x + ΔWx) + bias, i.e. y + (d−1)⊙(W0x) + d⊙ΔWx.
        Tensor norm;
        using (no_grad())
        {
            var w = baseWeight + B.matmul(A).mul(Scale);                 // [out, in]
            if (MergedP is not null) w = w + MergedP.matmul(MergedQ!);
            norm = w.norm(1, keepdim: false);                             // [out]
        }
        var d = Magnitude / norm;                                         // [out]
        var baseOut = x.matmul(baseWeight.t());                           // [.., out], W0x without bias
        return y + baseOut.mul(d - 1) + lora.mul(d);
    }

    public override IEnumerable<AdapterParameter> Parameters()
    {
        if (!FreezeA) yield return new AdapterParameter("lora_A.weight", A, ParameterRole.DownProjection);
        yield return new AdapterParameter("lora_B.weight", B, ParameterRole.UpProjection);
        if (Magnitude is not null) yield return new AdapterParameter("lora_magnitude_vector", Magnitude, ParameterRole.Vector);
    }

    public override IEnumerable<(string Suffix, Tensor Tensor)> SavedTensors(Tensor baseWeight)
    {
        yield return ("lora_A.weight", A.detach());
        yield return ("lora_B.weight", B.detach());
        if (Magnitude is not null) yield return ("lora_magnitude_vector", Magnitude.detach());
    }

    /// <summary>The whole update as exact factors P [out, k]·Q [k, in] (scale folded into P), merged periods included.</summary>
    public (Tensor P, Tensor Q) Factors()
    {
        using var _ = no_grad();
        var p = B.detach().mul(Scale);
        var q = A.detach().clone();
        if (MergedP is null) return (p, q);
        return (cat([MergedP, p], 1), cat([MergedQ!, q], 0)); // [out, k+r], [k+r, in]
    }

    /// <summary>
    /// PeriodicLoRA: folds s·B·A into the merged factors, re-initialises A (kaiming) and B (zeros). The caller resets
    /// the optimiser state of A and B, as the method prescribes.
    /// </summary>
    public void MergeAndReinit(Generator gen)
    {
        var (p, q) = Factors();
        MergedP?.Dispose();
        MergedQ?.Dispose();
        MergedP = p;
        MergedQ = q;
        Replace(KaimingUniformA(Rank, InFeatures, gen), zeros(OutFeatures, Rank), Scale);
    }

    /// <summary>Restores a checkpointed state (shapes may differ from the current ones after a squeeze).</summary>
    public void Restore(Tensor a, Tensor b, double scale, Tensor? magnitude, Tensor? mergedP, Tensor? mergedQ)
    {
        Replace(a.clone(), b.clone(), scale);
        if (magnitude is not null)
        {
            using var _ = no_grad();
            Magnitude!.copy_(magnitude);
        }
        MergedP?.Dispose();
        MergedQ?.Dispose();
        MergedP = mergedP?.clone();
        MergedQ = mergedQ?.clone();
    }

    internal void Replace(Tensor a, Tensor b, double scale)
    {
        A.Dispose();
        B.Dispose();
        A = a.detach().requires_grad_(!FreezeA);
        B = b.detach().requires_grad_(true);
        Scale = scale;
    }

    public override void Dispose()
    {
        A.Dispose();
        B.Dispose();
        Magnitude?.Dispose();
        MergedP?.Dispose();
        MergedQ?.Dispose();
    }
}
