namespace LoraSqueeze.LoadTest.Running;

/// <summary>How long and how hard to drive the server. Both bounds apply: the run stops at whichever comes first.</summary>
public sealed record LoadOptions
{
    public LoadMode Mode { get; init; } = LoadMode.Closed;

    /// <summary>Open loop: mean arrivals per second.</summary>
    public double Rate { get; init; } = 2.0;

    /// <summary>Closed loop: clients in flight.</summary>
    public int Concurrency { get; init; } = 16;

    /// <summary>No new request is sent after this long.</summary>
    public TimeSpan Duration { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>No more requests than this are sent.</summary>
    public int MaxRequests { get; init; } = 100_000;

    /// <summary>After the sending window, in-flight requests get this long to finish before they are cancelled.</summary>
    public TimeSpan DrainTimeout { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>Per-request deadline sent to the server.</summary>
    public TimeSpan RequestDeadline { get; init; } = TimeSpan.FromSeconds(300);

    /// <summary>Base-model requests sent before measuring (JIT, allocator, first step), not counted.</summary>
    public int WarmupRequests { get; init; } = 2;

    /// <summary>
    /// Adapter of one more warm-up request ("" for none). Before main's engine-thread torch-threads change a fresh server
    /// ran base-only steps an order of magnitude slower until its first adapter load (docs/performance.md, finding 1),
    /// so every scenario of a comparison, base-only included, warms up with one adapter request and starts alike.
    /// </summary>
    public string WarmupAdapter { get; init; } = "";

    /// <summary>How often a progress line is written; zero disables progress.</summary>
    public TimeSpan ProgressInterval { get; init; } = TimeSpan.FromSeconds(5);

    public void Validate()
    {
        if (Mode == LoadMode.Open && (Rate <= 0 || !double.IsFinite(Rate))) throw new ArgumentException($"rate must be positive (got {Rate})");
        if (Mode == LoadMode.Closed && Concurrency <= 0) throw new ArgumentException($"concurrency must be positive (got {Concurrency})");
        if (Duration <= TimeSpan.Zero) throw new ArgumentException("duration must be positive");
        if (MaxRequests <= 0) throw new ArgumentException($"max requests must be positive (got {MaxRequests})");
    }
}
