using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;

namespace LoraSqueeze.Engine;

/// <summary>What the <see cref="InferenceEngine"/> runs with: batching limits, request limits, queue length.</summary>
public sealed record EngineOptions
{
    public required SchedulerOptions Scheduler { get; init; }
    public required RequestLimits Limits { get; init; }

    /// <summary>Requests queued or waiting for admission at most; more are refused (RESOURCE_EXHAUSTED).</summary>
    public int QueueLength { get; init; } = 64;

    /// <summary>
    /// Decode steps the runner runs at start-up, before <see cref="InferenceEngine.Ready"/> (<see cref="Execution.IModelRunner.WarmUp"/>):
    /// the first requests then run on touched memory and compiled code. 0: none.
    /// </summary>
    public int WarmupSteps { get; init; }
}
