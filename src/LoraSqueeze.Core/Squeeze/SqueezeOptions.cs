namespace LoraSqueeze.Core.Squeeze;

/// <summary>Knobs of a squeeze. Defaults follow the paper: RSVD oversampling 10, 2 power iterations.</summary>
public sealed record SqueezeOptions
{
    public SqueezeMethod Method { get; init; } = SqueezeMethod.Auto;

    /// <summary>RSVD oversampling p (Halko et al. §4.2).</summary>
    public int Oversample { get; init; } = 10;

    /// <summary>RSVD power (subspace) iterations q.</summary>
    public int PowerIterations { get; init; } = 2;

    /// <summary>Seed of the RSVD test matrix; the same seed gives the same output.</summary>
    public long Seed { get; init; }

    /// <summary>How many leading singular values each module report lists.</summary>
    public int LeadingValues { get; init; } = 8;

    /// <summary>
    /// Offline export only: per module the smallest rank ≤ target rank that keeps this fraction of Σσ² (non-uniform).
    /// </summary>
    public double? Energy { get; init; }

    /// <summary>Offline export only: total LoRA parameters Σ r_m·(out_m + in_m) to spend, greedily by σ² per parameter.</summary>
    public long? ParamBudget { get; init; }

    /// <summary>
    /// Serving only: squeeze to k·(target rank) with the smallest k ≤ <see cref="EnergyFloor.MaxMultiple"/> that keeps
    /// <see cref="EnergyFloor.MinEnergy"/> of the energy in every module (all modules get the same k·r, so the result
    /// is still uniform and fills k slots of rank r). Null: always the target rank.
    /// </summary>
    public EnergyFloor? Floor { get; init; }

    /// <summary>
    /// Modules decomposed at once on separate threads (1: in order on the calling thread). Pair values above 1 with one
    /// torch intra-op thread (<c>TorchRuntime.EnsureInitialized(threads: 1)</c>) so the two kinds of threads do not
    /// oversubscribe the cores; see <see cref="ModuleParallel"/>.
    /// </summary>
    public int Parallelism { get; init; } = 1;

    /// <summary>Called after each module, from the thread that finished it, never twice at once: (module path, modules done, count).</summary>
    public Action<string, int, int>? OnModule { get; init; }
}
