namespace LoraSqueeze.Training.Adapters;

/// <summary>
/// How to build a trainable adapter. <see cref="Alpha"/> defaults to the rank (s = 1 for plain LoRA). VeRA uses
/// <see cref="Rank"/> as the shared projection width and ignores alpha (it has no scaling).
/// </summary>
public sealed record AdapterSpec
{
    public AdapterVariant Variant { get; init; } = AdapterVariant.Lora;
    public int Rank { get; init; } = 8;
    public double? Alpha { get; init; }
    public bool UseRsLora { get; init; }
    public bool FreezeA { get; init; }

    /// <summary>
    /// What a squeeze during training does to the scale. False (the default): α follows the rank so s stays what it was
    /// (a squeezed α = r adapter keeps s = 1). True: α stays and s becomes the scaling rule's value at the new rank
    /// (α/r, or α/√r for rsLoRA), with the factors rescaled so ΔW is unchanged — the training after the squeeze then
    /// runs at the scale a directly trained adapter of that rank would have, which is what makes one learning rate
    /// comparable across ranks (rsLoRA, Kalajdzievski 2023, arXiv 2312.03732).
    /// </summary>
    public bool RescaleOnSqueeze { get; init; }

    /// <summary>LoRA+ ratio η_B/η_A (1 = plain LoRA). PEFT's docs example uses 16.</summary>
    public double LoraPlusRatio { get; init; } = 1.0;

    /// <summary>Module name suffixes in PEFT's list form (matches <c>key == t</c> or <c>key.EndsWith("." + t)</c>).</summary>
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    /// <summary>VeRA's d_initial (PEFT default 0.1).</summary>
    public double VeraDInitial { get; init; } = 0.1;

    public double EffectiveAlpha => Alpha ?? Rank;

    /// <summary>s = α/r, or α/√r for rsLoRA.</summary>
    public double ScaleFor(int rank) => UseRsLora ? EffectiveAlpha / Math.Sqrt(rank) : EffectiveAlpha / rank;

    /// <summary>PEFT's list rule (adapter-formats.md §1.4).</summary>
    public bool Targets(string modulePath) =>
        TargetModules.Any(t => modulePath == t || modulePath.EndsWith("." + t, StringComparison.Ordinal));
}
