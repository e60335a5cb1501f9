namespace LoraSqueeze.Training.Runs;

/// <summary>
/// The LoRA-Squeeze miniature (docs/experiments.md; LoRA-Squeeze, arXiv 2602.10993, at toy scale): per task, LoRA trained directly at each target rank,
/// Post-Squeeze and Cont-Squeeze from one source-rank run, and In-Squeeze (geometric halving in equal stages), all with
/// the same <see cref="Steps"/> update steps; Cont adds <see cref="RecoverSteps"/> which are counted and reported.
/// </summary>
public sealed record ExperimentOptions
{
    public required string ModelDir { get; init; }

    /// <summary>Folder with TASK/train.jsonl and TASK/eval.jsonl per task.</summary>
    public required string CorporaDir { get; init; }
    public required string WorkDir { get; init; }
    public IReadOnlyList<string> Tasks { get; init; } = ["devil", "bofh", "fortunes-en"];
    public IReadOnlyList<int> TargetRanks { get; init; } = [1, 2, 4, 8];
    public int SourceRank { get; init; } = 64;
    public int Steps { get; init; } = 150;
    public int RecoverSteps { get; init; } = 15;
    public int InSqueezeStages { get; init; } = 4;
    public double Lr { get; init; } = 3e-3;

    /// <summary>How the LoRA scale s depends on the rank (<see cref="ExperimentScaling"/>).</summary>
    public ExperimentScaling Scaling { get; init; } = ExperimentScaling.AlphaR;

    /// <summary>α for <see cref="ExperimentScaling.RsLora"/> and <see cref="ExperimentScaling.FixedAlpha"/> (PEFT's default lora_alpha is 8).</summary>
    public double Alpha { get; init; } = 8;

    /// <summary>
    /// Extra learning rates for the directly trained baseline (the paper tunes lr per rank for it). The "direct-tuned"
    /// column takes, per task, rank and seed, the best held-out perplexity over <see cref="Lr"/> and these: a selection
    /// on the eval set, which favours the baseline.
    /// </summary>
    public IReadOnlyList<double> DirectLrSweep { get; init; } = [1e-2];
    public int BatchSize { get; init; } = 8;
    public int SeqLen { get; init; } = 64;
    /// <summary>Each seed repeats every run (data order and adapter init); tables report mean ± standard deviation.</summary>
    public IReadOnlyList<int> Seeds { get; init; } = [1234];
    public int MaxEvalRows { get; init; } = 48;
    public IReadOnlyList<string> TargetModules { get; init; } = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
}

/// <summary>
/// The LoRA scale rule of every run. <see cref="AlphaR"/>: α = r, s = 1 at every rank (the first experiment).
/// <see cref="RsLora"/>: s = α/√r (Kalajdzievski 2023), meant to make one learning rate suit every rank.
/// <see cref="FixedAlpha"/>: s = α/r with α fixed (PEFT's default LoRA). With the last two a squeeze keeps ΔW and the
/// adapter trains on at the rule's scale for its new rank (<see cref="Adapters.AdapterSpec.RescaleOnSqueeze"/>).
/// </summary>
public enum ExperimentScaling
{
    AlphaR,
    RsLora,
    FixedAlpha,
}

/// <summary>One cell of the result table.</summary>
public sealed record ExperimentCell(string Task, int Seed, int TargetRank, string Method, double EvalLoss, double Perplexity, int UpdateSteps, double Seconds, string? Note);

/// <summary>Everything the experiment measured.</summary>
/// <remarks>Base and source perplexities are means over seeds.</remarks>
public sealed record ExperimentResult(ExperimentOptions Options, List<ExperimentCell> Cells, Dictionary<string, double> BasePerplexity,
    Dictionary<string, double> SourcePerplexity, double Seconds);
