using LoraSqueeze.LoadTest.Workload;

namespace LoraSqueeze.LoadTest.ScaleOut;

/// <summary>
/// The replica comparison (docs/scale-out.md): N replicas behind HAProxy, Zipf traffic over more adapters than one
/// replica's host tier holds, affinity vs round robin, then one replica killed mid-run.
/// </summary>
public sealed record ScaleOutSettings
{
    public required string ModelDir { get; init; }
    public required string AdapterRoot { get; init; }
    public required IReadOnlyList<string> AdapterIds { get; init; }
    public required string ReplicasScript { get; init; }
    public required string WorkDir { get; init; }
    public int Replicas { get; init; } = 3;
    public int FrontPort { get; init; } = 18480;
    public int BasePort { get; init; } = 18500;
    public int TargetRank { get; init; } = 8;
    public int Slots { get; init; } = 4;
    public int MaxBatch { get; init; } = 8;
    public string HostCache { get; init; } = "4MiB";
    public double ZipfAlpha { get; init; } = 1.0;
    public int Concurrency { get; init; } = 12;
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(40);
    public IntRange PromptTokens { get; init; } = new(16, 64);
    public IntRange OutputTokens { get; init; } = new(8, 32);
    public int Seed { get; init; } = 1234;
}
