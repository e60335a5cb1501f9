namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>
/// One comparison: which model, the adapter set, the server settings common to every scenario, and the load.
/// Defaults are the full run; <see cref="Quick"/> shortens every scenario and the adapter-count sweep.
/// </summary>
public sealed record ComparisonSettings
{
    /// <summary>Label of the model (demo, h1024).</summary>
    public required string ModelName { get; init; }

    public required string ModelDir { get; init; }

    /// <summary>Folder for the adapter set, server logs and reports.</summary>
    public required string WorkDir { get; init; }

    /// <summary>The <c>lorasqueeze</c> launcher (the repository's <c>./lorasqueeze</c> script).</summary>
    public required string Launcher { get; init; }

    /// <summary>Adapters in the headline scenarios (and the last point of the sweep).</summary>
    public int Adapters { get; init; } = 1000;

    /// <summary>The adapter-count sweep (S-LoRA Fig. 6-style); <see cref="Adapters"/> is appended.</summary>
    public IReadOnlyList<int> Sweep { get; init; } = [5, 50, 200];

    /// <summary>Source ranks of the adapters (S-LoRA's S2 mix is {8, 16, 32, 64}); drawn uniformly per adapter.</summary>
    public IReadOnlyList<int> SourceRanks { get; init; } = [4, 8, 16, 32, 64, 128];

    /// <summary>Physical adapters per rank on disk (ids are symlinks into this pool).</summary>
    public int CopiesPerRank { get; init; } = 4;

    /// <summary>Uniform target rank (ours).</summary>
    public int TargetRank { get; init; } = 16;

    /// <summary>Slot rank of the padded layout: the largest source rank.</summary>
    public int PaddedMaxRank => SourceRanks.Max();

    public int Slots { get; init; } = 16;

    public int MaxBatch { get; init; } = 8;

    /// <summary>Host tier budget of every server: room for all 1000 squeezed r = 16 adapters of h1024 (4.65 GB in float32), not for
    /// all raw ones (mean rank 42: ~12 GB); the same budget for both layouts, as an operator would set it.</summary>
    public string HostCache { get; init; } = "6GiB";

    /// <summary>Device slot dtype of every server (<c>--slot-dtype</c>): float32, bfloat16 or int8.</summary>
    public string SlotDType { get; init; } = "float32";

    /// <summary>
    /// Start the adapter servers with <c>--preload</c> (the host tier filled from disk before measuring, as S-LoRA keeps
    /// its adapters in host memory) and wait for it to finish. Base-only and the cold scenario never preload.
    /// </summary>
    public bool Preload { get; init; } = true;

    public double ZipfAlpha { get; init; } = 1.0;

    public int Concurrency { get; init; } = 16;

    /// <summary>Sending time of every measured window.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(40);

    /// <summary>Interleaved rounds of base-only, ours and padded windows (rotated order).</summary>
    public int Rounds { get; init; } = 4;

    /// <summary>The unmeasured window each long-lived server gets before the rounds.</summary>
    public TimeSpan WarmupDuration { get; init; } = TimeSpan.FromSeconds(20);

    public int MaxRequests { get; init; } = 100_000;

    public Workload.IntRange PromptTokens { get; init; } = new(16, 128);

    public Workload.IntRange OutputTokens { get; init; } = new(16, 64);

    public int Seed { get; init; } = 1234;

    public bool Quick { get; init; }
}
