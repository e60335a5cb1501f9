namespace LoraSqueeze.LoadTest.Workload;

/// <summary>
/// Inter-arrival gaps of a Poisson process at <see cref="Rate"/> requests per second: exponential with mean 1/rate,
/// the open-loop arrival model of S-LoRA's experiments (§7.1, Gamma with cv = 1). Inverse-CDF: −ln(1−U)/λ.
/// </summary>
public sealed class PoissonArrivals
{
    public PoissonArrivals(double rate)
    {
        if (rate <= 0 || !double.IsFinite(rate)) throw new ArgumentOutOfRangeException(nameof(rate), rate, "rate must be positive");
        Rate = rate;
    }

    public double Rate { get; }

    /// <summary>Seconds until the next arrival.</summary>
    public double NextGap(Random random) => -Math.Log(1.0 - random.NextDouble()) / Rate;
}
