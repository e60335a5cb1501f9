using LoraSqueeze.Training.Adapters;
using LoraSqueeze.Training.Squeeze;

namespace LoraSqueeze.Training.Runs;

/// <summary>Everything <c>lorasqueeze train</c> takes.</summary>
public sealed record AdapterTrainingOptions
{
    public required string ModelDir { get; init; }
    public required string DataPath { get; init; }
    public string? EvalPath { get; init; }
    public required string OutDir { get; init; }

    /// <summary>What adapter_config.json names as <c>base_model_name_or_path</c> (default: the model folder as given).</summary>
    public string? BaseModelName { get; init; }
    public AdapterSpec Adapter { get; init; } = new();
    public int Steps { get; init; } = 200;
    public double Lr { get; init; } = 1e-3;
    public int BatchSize { get; init; } = 8;
    public int SeqLen { get; init; } = 64;
    public int Seed { get; init; } = 1234;
    public int? WarmupSteps { get; init; }
    public double MaxGradNorm { get; init; } = 1.0;
    public int EvalEvery { get; init; }

    /// <summary>Eval rows used (the first N of the eval set) so evaluation stays cheap.</summary>
    public int MaxEvalRows { get; init; } = 64;
    public int CheckpointEvery { get; init; }
    public bool Resume { get; init; }

    /// <summary>Stop after this step (an interrupted run, for resume tests); the adapter is still written.</summary>
    public int? StopAfter { get; init; }

    /// <summary>Resume from this checkpoint folder instead of OUT/checkpoint (the experiment branches Post- and
    /// Cont-Squeeze off one source run this way).</summary>
    public string? ResumeFrom { get; init; }

    /// <summary>Evaluate before the first step too (the base model's perplexity: B = 0 makes ΔW = 0).</summary>
    public bool EvalAtStart { get; init; }

    /// <summary>Post-Squeeze (alone) or the rank Cont-Squeeze recovers at; also PeriodicLoRA's final rank.</summary>
    public int? SqueezeTo { get; init; }

    /// <summary>Cont-Squeeze: extra steps at <see cref="SqueezeTo"/> after the squeeze (counted beyond <see cref="Steps"/>).</summary>
    public int RecoverSteps { get; init; }

    /// <summary>In-Squeeze: (R_SRC, R_TGT, shape, stages); the adapter starts at R_SRC.</summary>
    public (int Source, int Target, AnnealShape Shape, int Stages)? Anneal { get; init; }

    /// <summary>PeriodicLoRA: merge and re-initialise every K steps (0: off).</summary>
    public int MergeEvery { get; init; }

    public string CheckpointDir => Path.Combine(OutDir, "checkpoint");

    /// <summary>The mode in words, for logs and reports.</summary>
    public string Mode => Anneal is { } a ? $"in-squeeze {a.Source}→{a.Target} ({a.Shape.ToString().ToLowerInvariant()}, {a.Stages} stages)"
        : MergeEvery > 0 ? $"periodic (merge every {MergeEvery}), squeezed to {SqueezeTo ?? Adapter.Rank}"
        : SqueezeTo is int r && RecoverSteps > 0 ? $"cont-squeeze →{r} (+{RecoverSteps} steps)"
        : SqueezeTo is int p ? $"post-squeeze →{p}"
        : "plain";

    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(Steps, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(BatchSize, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(SeqLen, 2);
        if (Adapter.Rank < 1) throw new ArgumentException("--rank must be ≥ 1");
        if (RecoverSteps > 0 && SqueezeTo is null) throw new ArgumentException("--recover-steps needs --squeeze-to");
        if (SqueezeTo is int s && s < 1) throw new ArgumentException("--squeeze-to must be ≥ 1");
        if (Anneal is not null && (SqueezeTo is not null || MergeEvery > 0))
            throw new ArgumentException("--anneal cannot be combined with --squeeze-to or --merge-every");
        if ((SqueezeTo is not null || Anneal is not null || MergeEvery > 0) && Adapter.Variant != AdapterVariant.Lora)
            throw new ArgumentException($"the squeeze modes and --merge-every apply to LoRA-family adapters, not {Adapter.Variant}");
        if (Adapter.FreezeA && Anneal is not null)
            throw new ArgumentException("--freeze-a with --anneal: a squeeze rewrites A, so LoRA-FA's frozen random A would not survive it");
    }
}
