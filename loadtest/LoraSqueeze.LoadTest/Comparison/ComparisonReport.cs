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
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"Load: closed loop, {s.Concurrency} clients, {s.Duration.TotalSeconds:F0} s per scenario; prompts {s.PromptTokens} tokens, outputs {s.OutputTokens} tokens " +
            $"(greedy); Zipf α = {s.ZipfAlpha}; adapter source ranks {{{string.Join(", ", s.SourceRanks)}}} drawn uniformly per adapter " +
            $"({c.PhysicalAdapters} physical PEFT adapters, {c.AdapterDiskBytes / 1e6:F0} MB on disk, ids symlinked into them; " +
            $"\"ours\" serves them squeezed to r = {s.TargetRank} ahead of time, \"cold\" squeezes each on first use in the window). Server: " +
            $"{s.Slots} slots ({s.SlotDType}), max batch {s.MaxBatch}, host cache {s.HostCache}; ours squeezes to r = {s.TargetRank}, padded slots are r = {s.PaddedMaxRank}. "));
        sb.AppendLine(s.Preload
            ? "Ours, padded and the sweep start with `--preload` (the host tier filled from disk before the window, as far as the budget allows; S-LoRA keeps adapters in host memory); base-only and cold do not."
            : "No preload: every adapter is loaded on first use.");
        sb.AppendLine();
        sb.AppendLine(RunMarkdown.Table(c.Scenarios.Select(x => x.Report).ToList(), r => c.Ratio(c.Scenarios.First(x => ReferenceEquals(x.Report, r)))));
        sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
            $"× base = {(c.UsesSteadyWindow ? "steady tok/s (server-counted tokens between 25 % and 100 % of the sending window, while all clients have a request in flight: no ramp-up, no drain)" : "out tok/s (completed requests' tokens from first send to last completion)")} " +
            $"over the faster base-only run ({c.BaseTokensPerSecond:F1} tok/s; the conservative ceiling). Out tok/s is the end-to-end figure. " +
            $"Slot hits / host / disk: requests whose adapter was already in a device slot / slot misses served from the host cache / loads from disk (squeezed)."));
        sb.AppendLine();
        if (c.Uniform is { } u && c.Padded is { } p)
        {
            double ru = c.Ratio(u), rp = c.Ratio(p);
            sb.AppendLine("| | throughput × base | loss vs base | target |");
            sb.AppendLine("|---|---|---|---|");
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| ours: uniform r = {s.TargetRank}, {u.Adapters} adapters | {ru:F3} | {(1 - ru) * 100:F1} % | ≥ 0.90 × base: **{(ru >= 0.9 ? "met" : "not met")}** |"));
            if (c.Scenarios.FirstOrDefault(x => x.Kind == "uniform-cold") is { } cold)
                sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                    $"| ours, squeezing each adapter on first use (cold) | {c.Ratio(cold):F3} | {(1 - c.Ratio(cold)) * 100:F1} % | (not a target; shows the squeeze-on-load cost) |"));
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| padded to r = {s.PaddedMaxRank}, same adapters | {rp:F3} | {(1 - rp) * 100:F1} % | padded loss ≥ 4 × ours: **{(PaddedLossTargetMet(ru, rp) ? "met" : "not met")}** ({FormatMultiple(c.LossMultiple, ru)}) |"));
            sb.AppendLine();
        }
        sb.AppendLine($"![layouts]({stem}-layouts.png) ![adapters]({stem}-adapters.png)");
        return sb.ToString();
    }

    /// <summary>(1 − padded) ≥ 4·(1 − ours); when ours lost nothing any padded loss satisfies it.</summary>
    public static bool PaddedLossTargetMet(double oursRatio, double paddedRatio) =>
        1 - paddedRatio > 0 && 1 - paddedRatio >= 4 * Math.Max(0, 1 - oursRatio) - 1e-9;

    private static string FormatMultiple(double multiple, double ours) =>
        ours >= 1 ? "ours lost nothing in this run" : multiple.ToString("F1", CultureInfo.InvariantCulture) + " ×";

    private static void WriteLayoutsPlot(ComparisonResult c, string path)
    {
        var plot = new Plot();
        var items = c.Scenarios.Where(x => x.Kind != "sweep").ToList();
        var bars = items.Select((x, i) => new Bar { Position = i, Value = c.Ratio(x) }).ToList();
        plot.Add.Bars(bars);
        plot.Axes.Bottom.SetTicks([.. Enumerable.Range(0, items.Count).Select(i => (double)i)],
            [.. items.Select(x => x.Kind switch
            {
                "base" => x.Report.Name,
                "uniform-cold" => $"ours r={x.SlotRank}, cold",
                "uniform" => $"ours r={x.SlotRank}",
                _ => $"padded r={x.SlotRank}",
            })]);
        var line = plot.Add.HorizontalLine(0.9);
        line.LinePattern = LinePattern.Dashed;
        plot.Title($"{c.ModelName}: output tokens/s × base-only ({c.Scenarios.First(x => x.Kind != "base").Adapters} adapters, Zipf)");
        plot.YLabel("× base-only");
        plot.Axes.SetLimitsY(0, 1.15);
        plot.SavePng(path, 800, 450);
    }

    private static void WriteSweepPlot(ComparisonResult c, string path)
    {
        var points = c.Scenarios.Where(x => x.Kind is "sweep" or "uniform").OrderBy(x => x.Adapters).ToList();
        var plot = new Plot();
        var scatter = plot.Add.Scatter(points.Select(x => Math.Log10(x.Adapters)).ToArray(), points.Select(c.Ratio).ToArray());
        scatter.LegendText = $"ours, uniform r = {c.Settings.TargetRank}";
        if (c.Padded is { } p)
        {
            var padded = plot.Add.ScatterPoints(new double[] { Math.Log10(p.Adapters) }, new double[] { c.Ratio(p) });
            padded.LegendText = $"padded r = {c.Settings.PaddedMaxRank}";
        }
        plot.Axes.Bottom.SetTicks([.. points.Select(x => Math.Log10(x.Adapters))], [.. points.Select(x => x.Adapters.ToString(CultureInfo.InvariantCulture))]);
        plot.Title($"{c.ModelName}: throughput vs distinct adapters (Zipf α = {c.Settings.ZipfAlpha})");
        plot.XLabel("distinct adapters");
        plot.YLabel("output tokens/s × base-only");
        plot.Axes.SetLimitsY(0, 1.15);
        plot.ShowLegend();
        plot.SavePng(path, 800, 450);
    }
}
