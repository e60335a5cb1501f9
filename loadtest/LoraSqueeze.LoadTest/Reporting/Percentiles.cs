namespace LoraSqueeze.LoadTest.Reporting;

/// <summary>
/// Percentiles by linear interpolation between closest ranks (numpy's default "linear" method, Hyndman and Fan type 7):
/// p-th percentile of sorted x₀..xₙ₋₁ is x at fractional index (n−1)·p/100.
/// </summary>
public static class Percentiles
{
    public static double Of(IReadOnlyList<double> values, double percentile)
    {
        if (percentile is < 0 or > 100 || double.IsNaN(percentile))
            throw new ArgumentOutOfRangeException(nameof(percentile), percentile, "percentile must be in [0, 100]");
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToArray();
        double index = (sorted.Length - 1) * percentile / 100.0;
        int lo = (int)Math.Floor(index);
        int hi = Math.Min(lo + 1, sorted.Length - 1);
        return sorted[lo] + (sorted[hi] - sorted[lo]) * (index - lo);
    }

    public static LatencySummary Summarize(IReadOnlyList<double> values) => new(
        Count: values.Count,
        Mean: values.Count == 0 ? double.NaN : values.Average(),
        P50: Of(values, 50),
        P90: Of(values, 90),
        P99: Of(values, 99),
        Max: values.Count == 0 ? double.NaN : values.Max());
}
