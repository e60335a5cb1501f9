using LoraSqueeze.Training.Optim;

namespace LoraSqueeze.Training.Loop;

/// <summary>Loop settings shared by adapter training and pre-training.</summary>
public sealed record TrainerOptions
{
    public int Steps { get; init; } = 200;
    public int BatchSize { get; init; } = 8;
    public int SeqLen { get; init; } = 128;
    public int Seed { get; init; } = 1234;
    public double MaxGradNorm { get; init; } = 1.0;
    public double WeightDecay { get; init; }
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;

    /// <summary>Learning rate at each step (0-based, the whole run including Cont-Squeeze recovery steps).</summary>
    public required Func<int, double> LearningRate { get; init; }

    /// <summary>Evaluate every this many steps (0: only at the end).</summary>
    public int EvalEvery { get; init; }

    /// <summary>Write a checkpoint every this many steps into <see cref="CheckpointDir"/> (0: never).</summary>
    public int CheckpointEvery { get; init; }
    public string? CheckpointDir { get; init; }

    /// <summary>Stop after this step even if <see cref="Steps"/> is larger (tests interrupt a run this way).</summary>
    public int? StopAfter { get; init; }

    public static TrainerOptions WithSchedule(LrSchedule schedule, int steps) => new() { Steps = steps, LearningRate = schedule.At };
}
