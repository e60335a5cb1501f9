namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>
/// Everything a comparison measured, with the throughput ratios against the base-only ceiling. Base-only runs at the
/// start and at the end; the ceiling is the faster of them, so a slow base run (another job on the shared machine, or
/// the base-only tail stalls seen in docs/performance.md) can only make our ratios look worse, never better.
/// </summary>
public sealed record ComparisonResult
{
    public required string ModelName { get; init; }
    public required string ModelDir { get; init; }
    public required string Machine { get; init; }
    public required string Command { get; init; }
    public required ComparisonSettings Settings { get; init; }
    public required IReadOnlyList<ScenarioResult> Scenarios { get; init; }
    public long AdapterDiskBytes { get; init; }
    public int PhysicalAdapters { get; init; }

    /// <summary>
    /// Every scenario has a steady-window figure (closed loop, not cut short): then ratios divide those, which are
    /// saturated throughput without ramp-up and drain; otherwise the end-to-end figures.
    /// </summary>
    public bool UsesSteadyWindow => Scenarios.Count > 0 && Scenarios.All(s => !double.IsNaN(s.Report.SteadyOutputTokensPerSecond));

    private double Compared(ScenarioResult s) => UsesSteadyWindow ? s.Report.SteadyOutputTokensPerSecond : s.Report.OutputTokensPerSecond;

    /// <summary>Base-only output tokens/s: the fastest base run.</summary>
    public double BaseTokensPerSecond => Scenarios.Where(s => s.Kind == "base").Select(Compared).DefaultIfEmpty(double.NaN).Max();

    public double Ratio(ScenarioResult s) => Compared(s) / BaseTokensPerSecond;

    public ScenarioResult? Uniform => Scenarios.FirstOrDefault(s => s.Kind == "uniform");

    public ScenarioResult? Padded => Scenarios.FirstOrDefault(s => s.Kind == "padded");

    /// <summary>Padded loss over ours: (1 − padded ratio) / (1 − uniform ratio). Target ≥ 4.</summary>
    public double LossMultiple => Uniform is { } u && Padded is { } p ? (1 - Ratio(p)) / (1 - Ratio(u)) : double.NaN;
}
