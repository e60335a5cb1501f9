namespace LoraSqueeze.LoadTest.Workload;

/// <summary>
/// Draws popularity ranks 0..n−1 with P(k) ∝ 1/(k+1)^α: the power-law adapter popularity of S-LoRA's synthetic
/// workloads (Sheng et al., MLSys'24, §7.1, α ∈ {0.1, 0.3, 0.6, 1}). α = 0 is uniform. Inverse-CDF sampling with a
/// binary search over the cumulative weights, so one draw is O(log n) and exact for any α ≥ 0.
/// </summary>
public sealed class ZipfSampler
{
    private readonly double[] _cdf;

    public ZipfSampler(int n, double alpha)
    {
        if (n <= 0) throw new ArgumentOutOfRangeException(nameof(n), n, "need at least one item");
        if (alpha < 0 || !double.IsFinite(alpha)) throw new ArgumentOutOfRangeException(nameof(alpha), alpha, "alpha must be finite and ≥ 0");
        Count = n;
        Alpha = alpha;
        _cdf = new double[n];
        double total = 0;
        for (int k = 0; k < n; k++)
        {
            total += Math.Pow(k + 1, -alpha);
            _cdf[k] = total;
        }
        for (int k = 0; k < n; k++) _cdf[k] /= total;
        _cdf[n - 1] = 1.0;
    }

    public int Count { get; }

    public double Alpha { get; }

    /// <summary>Probability of rank <paramref name="k"/>.</summary>
    public double Probability(int k) => k == 0 ? _cdf[0] : _cdf[k] - _cdf[k - 1];

    public int Sample(Random random) => FromUniform(random.NextDouble());

    /// <summary>The rank whose CDF interval holds <paramref name="u"/> ∈ [0, 1).</summary>
    public int FromUniform(double u)
    {
        int i = Array.BinarySearch(_cdf, u);
        // BinarySearch returns the complement of the first larger element when u is not present.
        if (i < 0) i = ~i;
        return Math.Min(i, Count - 1);
    }
}
