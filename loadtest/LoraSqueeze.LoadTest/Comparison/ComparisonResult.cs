namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>
/// Everything a comparison measured, with the throughput ratios against the base-only ceiling. Base-only, ours and
/// padded run in interleaved rounds (rotated order) on long-lived servers, so slow drift of a shared machine falls on
/// all three alike; a kind's figure is the mean over its rounds, and the per-round paired ratios show the spread.
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
    /// Every window has a steady-window figure (closed loop, not cut short): then ratios divide those (saturated
    /// throughput without ramp-up and drain); otherwise the end-to-end figures.
    /// </summary>
    public bool UsesSteadyWindow => Scenarios.Count > 0 && Scenarios.All(s => !double.IsNaN(s.Report.SteadyOutputTokensPerSecond));

    /// <summary>The figure a window is compared by.</summary>
    public double Compared(ScenarioResult s) => UsesSteadyWindow ? s.Report.SteadyOutputTokensPerSecond : s.Report.OutputTokensPerSecond;

    /// <summary>The measured windows of a kind: its rounds (or, in a comparison written before rounds existed, every window).</summary>
    public IReadOnlyList<ScenarioResult> Windows(string kind)
    {
        bool rounds = Scenarios.Any(s => s.Round > 0);
        return [.. Scenarios.Where(s => s.Kind == kind && (!rounds || s.Round > 0 || kind is "sweep" or "uniform-cold"))];
    }

    /// <summary>Mean output tokens/s of a kind over its windows.</summary>
    public double MeanTokensPerSecond(string kind) => Windows(kind).Select(Compared).DefaultIfEmpty(double.NaN).Average();

    /// <summary>Base-only output tokens/s on ours' server: the mean over its rounds.</summary>
    public double BaseTokensPerSecond => MeanTokensPerSecond("base");

    /// <summary>
    /// The base-only kind a kind is divided by: padded by base-only on padded's own server when the comparison has
    /// those windows (older ones do not), everything else by base-only on ours' server.
    /// </summary>
    public string CeilingOf(string kind) =>
        kind is "padded" or "base-padded" && Scenarios.Any(s => s.Kind == "base-padded") ? "base-padded" : "base";

    /// <summary>One window over its ceiling.</summary>
    public double Ratio(ScenarioResult s) => Compared(s) / MeanTokensPerSecond(CeilingOf(s.Kind));

    /// <summary>A kind's mean over its ceiling's mean: the figure the targets are judged on.</summary>
    public double KindRatio(string kind) => MeanTokensPerSecond(kind) / MeanTokensPerSecond(CeilingOf(kind));

    /// <summary>Per round, the kind's window over that round's ceiling window (paired: neighbours in time).</summary>
    public IReadOnlyList<double> PairedRatios(string kind)
    {
        string ceiling = CeilingOf(kind);
        return [.. Windows(kind).Where(w => w.Round > 0)
            .Select(w => (w, b: Scenarios.FirstOrDefault(x => x.Kind == ceiling && x.Round == w.Round)))
            .Where(p => p.b is not null)
            .Select(p => Compared(p.w) / Compared(p.b!))];
    }

    public ScenarioResult? Uniform => Windows("uniform") is [var first, ..] ? first : null;

    public ScenarioResult? Padded => Windows("padded") is [var first, ..] ? first : null;

    /// <summary>Padded loss over ours: (1 − padded ratio) / (1 − uniform ratio). Target ≥ 4.</summary>
    public double LossMultiple => Uniform is not null && Padded is not null ? (1 - KindRatio("padded")) / (1 - KindRatio("uniform")) : double.NaN;
}
