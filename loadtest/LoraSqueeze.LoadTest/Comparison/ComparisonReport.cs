using System.Globalization;
using System.Text;
using LoraSqueeze.LoadTest.Reporting;
using ScottPlot;

namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>Writes a comparison as JSON, a markdown summary and two PNGs (layouts vs base; throughput vs adapter count).</summary>
public static class ComparisonReport
{
    public static IReadOnlyList<string> Write(ComparisonResult c, string dir)
    {
        Directory.CreateDirectory(dir);
        string stem = Path.Combine(dir, $"comparison-{c.ModelName}");
        ReportJson.Write(stem + ".json", c);
        File.WriteAllText(stem + ".md", Markdown(c, Path.GetFileName(stem)));
        WriteLayoutsPlot(c, stem + "-layouts.png");
        WriteSweepPlot(c, stem + "-adapters.png");
        return [stem + ".json", stem + ".md", stem + "-layouts.png", stem + "-adapters.png"];
    }

    /// <summary>Reads a comparison written by <see cref="Write"/> (to re-render its markdown and plots).</summary>
    public static ComparisonResult Read(string jsonPath) =>
        System.Text.Json.JsonSerializer.Deserialize<ComparisonResult>(File.ReadAllText(jsonPath), ReportJson.Options)
        ?? throw new InvalidOperationException($"{jsonPath} holds no comparison");

    public static string Markdown(ComparisonResult c, string stem)
    {
        var s = c.Settings;
        var sb = new StringBuilder();
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture, $"## {c.ModelName}: `{c.ModelDir}`"));
        sb.AppendLine();
        sb.AppendLine($"Machine: {c.Machine}. Command: `{c.Command}`.");
        sb.AppendLine();
        bool rounds = c.Scenarios.Any(x => x.Round > 0);
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Load: closed loop, {s.Concurrency} clients, {s.Duration.TotalSeconds:F0} s per window; prompts {s.PromptTokens} tokens, outputs {s.OutputTokens} tokens " +
            $"(greedy); Zipf α = {s.ZipfAlpha}; adapter source ranks {{{string.Join(", ", s.SourceRanks)}}} drawn uniformly per adapter " +
            $"({c.PhysicalAdapters} physical PEFT adapters, {c.AdapterDiskBytes / 1e6:F0} MB on disk, ids symlinked into them; " +
            $"\"ours\" serves them squeezed to r = {s.TargetRank} ahead of time, \"cold\" squeezes each on first use in the window). Server: " +
            $"{s.Slots} slots ({s.SlotDType}), max batch {s.MaxBatch}, host cache {s.HostCache}; ours squeezes to r = {s.TargetRank}, padded slots are r = {s.PaddedMaxRank}."));
        sb.AppendLine();
        if (rounds)
        {
            sb.Append("Method: two long-lived servers, ours (also serving the sweep) and padded, each also serving base-only windows (its own ceiling), ");
            sb.Append(s.Preload
                ? "each started with `--preload` (host tier filled before measuring, as far as the budget allows; S-LoRA keeps adapters in host memory), "
                : "without preload, ");
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"each warmed up by an unmeasured {s.WarmupDuration.TotalSeconds:F0} s window; then {s.Rounds} rounds of base-only (ours' server), ours, base-only (padded's server) and padded windows in rotated order; then the sweep on ours, and the cold run on a fresh server without preload."));
            sb.AppendLine();
        }
        sb.AppendLine(RunMarkdown.Table(c.Scenarios.Select(x => x.Report).ToList(), r => c.Ratio(c.Scenarios.First(x => ReferenceEquals(x.Report, r)))));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"× base = {(c.UsesSteadyWindow ? "steady tok/s (server-counted tokens between 25 % and 100 % of the sending window, while every client has a request in flight: no ramp-up, no drain)" : "out tok/s (completed requests' tokens from first send to last completion)")} " +
            $"over the {(rounds ? "mean of the base-only rounds on the same server (padded: on its own server)" : "faster base-only run")} ({c.BaseTokensPerSecond:F1} tok/s on ours' server). Out tok/s is the end-to-end figure. " +
            $"Slot hits / host / disk: requests whose adapter was already in a device slot / slot misses served from the host cache / loads from disk (squeezed)."));
        sb.AppendLine();
        if (c.Uniform is { } u && c.Padded is not null)
        {
            double ru = c.KindRatio("uniform"), rp = c.KindRatio("padded");
            sb.AppendLine("| | windows | mean tok/s | throughput × base | per-round ratios | loss vs base | target |");
            sb.AppendLine("|---|---|---|---|---|---|---|");
            sb.AppendLine(Row(c, "base", "base-only on ours' server (ceiling of ours, the sweep and cold)", "—"));
            if (c.Windows("base-padded").Count > 0)
                sb.AppendLine(Row(c, "base-padded", "base-only on padded's server (ceiling of padded)", "—"));
            sb.AppendLine(Row(c, "uniform", $"ours: uniform r = {s.TargetRank}, {u.Adapters} adapters",
                $"≥ 0.90 × base: **{(ru >= 0.9 ? "met" : "not met")}**"));
            sb.AppendLine(Row(c, "padded", $"padded to r = {s.PaddedMaxRank}, same adapters",
                $"padded loss ≥ 4 × ours: **{(PaddedLossTargetMet(ru, rp) ? "met" : "not met")}** ({FormatMultiple(c.LossMultiple, ru)})"));
            if (c.Windows("uniform-cold").Count > 0)
                sb.AppendLine(Row(c, "uniform-cold", "ours, squeezing each adapter on first use (cold)", "(not a target; shows the squeeze-on-load cost)"));
            sb.AppendLine();
        }
        sb.AppendLine($"![layouts]({stem}-layouts.png) ![adapters]({stem}-adapters.png)");
        return sb.ToString();
    }

    private static string Row(ComparisonResult c, string kind, string label, string target)
    {
        var windows = c.Windows(kind);
        var paired = c.PairedRatios(kind);
        double ratio = c.KindRatio(kind);
        string spread = paired.Count == 0 || kind is "base" or "base-padded" ? "—"
            : string.Join(", ", paired.Select(x => x.ToString("F3", CultureInfo.InvariantCulture)));
        return string.Create(CultureInfo.InvariantCulture,
            $"| {label} | {windows.Count} | {c.MeanTokensPerSecond(kind):F1} | {ratio:F3} | {spread} | {(1 - ratio) * 100:F1} % | {target} |");
    }

    /// <summary>(1 − padded) ≥ 4·(1 − ours); when ours lost nothing any padded loss satisfies it.</summary>
    public static bool PaddedLossTargetMet(double oursRatio, double paddedRatio) =>
        1 - paddedRatio > 0 && 1 - paddedRatio >= 4 * Math.Max(0, 1 - oursRatio) - 1e-9;

    private static string FormatMultiple(double multiple, double ours) =>
        ours >= 1 ? "ours lost nothing in this run" : multiple.ToString("F1", CultureInfo.InvariantCulture) + " ×";

    private static readonly string[] PlottedKinds = ["base", "uniform", "base-padded", "padded", "uniform-cold"];

    private static void WriteLayoutsPlot(ComparisonResult c, string path)
    {
        var plot = new Plot();
        var kinds = PlottedKinds.Where(k => c.Windows(k).Count > 0).ToList();
        plot.Add.Bars(kinds.Select((k, i) => new Bar { Position = i, Value = c.KindRatio(k) }).ToList());
        // Each window as a dot over its kind's bar: the spread between rounds.
        for (int i = 0; i < kinds.Count; i++)
        {
            var w = c.Windows(kinds[i]);
            if (w.Count > 1) plot.Add.ScatterPoints(Enumerable.Repeat((double)i, w.Count).ToArray(), w.Select(c.Ratio).ToArray());
        }
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, kinds.Count).Select(i => (double)i)],
            [.. kinds.Select(k => k switch
            {
                "base" => "base-only (ours' server)",
                "base-padded" => "base-only (padded's server)",
                "uniform-cold" => $"ours r={c.Settings.TargetRank}, cold",
                "uniform" => $"ours r={c.Settings.TargetRank}",
                _ => $"padded r={c.Settings.PaddedMaxRank}",
            })]);
        var line = plot.Add.HorizontalLine(0.9);
        line.LinePattern = LinePattern.Dashed;
        plot.Title($"{c.ModelName}: output tokens/s × base-only ({c.Settings.Adapters} adapters, Zipf; dots: windows)");
        plot.YLabel("× base-only");
        plot.Axes.SetLimitsY(0, 1.2);
        plot.SavePng(path, 800, 450);
    }

    private static void WriteSweepPlot(ComparisonResult c, string path)
    {
        var points = c.Windows("sweep").Select(x => (x.Adapters, Ratio: c.Ratio(x))).ToList();
        if (c.Uniform is { } u) points.Add((u.Adapters, c.KindRatio("uniform")));
        points = [.. points.OrderBy(x => x.Adapters)];
        var plot = new Plot();
        var scatter = plot.Add.Scatter(points.Select(x => Math.Log10(x.Adapters)).ToArray(), points.Select(x => x.Ratio).ToArray());
        scatter.LegendText = $"ours, uniform r = {c.Settings.TargetRank}";
        if (c.Padded is { } p)
        {
            var padded = plot.Add.ScatterPoints(new double[] { Math.Log10(p.Adapters) }, new double[] { c.KindRatio("padded") });
            padded.LegendText = $"padded r = {c.Settings.PaddedMaxRank}";
        }
        plot.Axes.Bottom.SetTicks([.. points.Select(x => Math.Log10(x.Adapters))], [.. points.Select(x => x.Adapters.ToString(CultureInfo.InvariantCulture))]);
        plot.Title($"{c.ModelName}: throughput vs distinct adapters (Zipf α = {c.Settings.ZipfAlpha})");
        plot.XLabel("distinct adapters");
        plot.YLabel("output tokens/s × base-only");
        plot.Axes.SetLimitsY(0, 1.2);
        plot.ShowLegend();
        plot.SavePng(path, 800, 450);
    }
}
