using LoraSqueeze.Training.Loop;

namespace LoraSqueeze.Training.Runs;

/// <summary>What a training run produced: the log, the final eval, the adapter's rank and the update steps taken.</summary>
public sealed record AdapterTrainingResult(
    TrainingLog Log,
    EvalRecord? FinalEval,
    EvalRecord? EvalBeforeSqueeze,
    EvalRecord? EvalAtStart,
    int FinalRank,
    int UpdateSteps,
    string AdapterDir,
    double Seconds);
