namespace LoraSqueeze.Training.Loop;

/// <summary>One logged training step.</summary>
public sealed record StepRecord(int Step, double Loss, double Lr, double GradNorm, int Rank, double TokensPerSecond);

/// <summary>One evaluation: mean loss over the eval set's counted targets and its perplexity exp(loss).</summary>
public sealed record EvalRecord(int Step, double Loss, double Perplexity);

/// <summary>Something that happened between steps (a squeeze, a PeriodicLoRA merge), with its numbers.</summary>
public sealed record EventRecord(int Step, string Kind, string Detail);

/// <summary>The history of a run; saved in checkpoints so a resumed run's curve is the whole curve.</summary>
public sealed class TrainingLog
{
    public List<StepRecord> Steps { get; init; } = [];
    public List<EvalRecord> Evals { get; init; } = [];
    public List<EventRecord> Events { get; init; } = [];
    public long Tokens { get; set; }
    public double Seconds { get; set; }
}
