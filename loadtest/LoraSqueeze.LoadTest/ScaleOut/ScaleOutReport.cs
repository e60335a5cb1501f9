using System.Globalization;
using System.Text;
using LoraSqueeze.LoadTest.Reporting;
using ScottPlot;

namespace LoraSqueeze.LoadTest.ScaleOut;

/// <summary>The replica comparison as JSON, markdown (docs/scale-out.md's results) and two PNGs.</summary>
public static class ScaleOutReport
{
    public static IReadOnlyList<string> Write(ScaleOutResult r, string outDir)
    {
        Directory.CreateDirectory(outDir);
        string json = Path.Combine(outDir, "scale-out.json");
        ReportJson.Write(json, r);
        string loads = Path.Combine(outDir, "scale-out-loads.png");
        PlotLoads(r, loads);
        string failover = Path.Combine(outDir, "scale-out-failover.png");
        PlotFailover(r.Failover, failover);
        string md = Path.Combine(outDir, "scale-out-results.md");
        File.WriteAllText(md, Markdown(r));
        return [json, md, loads, failover];
    }

    public static string Markdown(ScaleOutResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        var s = r.Settings;
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"Measured {r.When:yyyy-MM-dd HH:mm} UTC on {r.Machine}.");
        sb.AppendLine();
        sb.AppendLine(inv, $"Command: `{r.Command}`");
        sb.AppendLine();
        sb.AppendLine(inv, $"{s.Replicas} replicas, each `--slots {s.Slots} --host-cache {s.HostCache} --target-rank {s.TargetRank} --max-batch {s.MaxBatch}`; " +
            $"one adapter at rank {s.TargetRank} is {r.AdapterBytesAtTargetRank / 1024.0:F0} KiB, so a host tier holds about " +
            $"{ParseBytes(s.HostCache) / (double)r.AdapterBytesAtTargetRank:F0} of the {s.AdapterIds.Count} adapters. " +
            $"Zipf α = {s.ZipfAlpha} over the adapters, closed loop of {s.Concurrency} clients through HAProxy's front port, " +
            $"{s.Duration.TotalSeconds:F0} s per policy, every replica cold at the start, prompts {s.PromptTokens.Min}–{s.PromptTokens.Max} tokens, " +
            $"max_tokens {s.OutputTokens.Min}–{s.OutputTokens.Max}, greedy, streamed /v1/completions.");
        sb.AppendLine();
        sb.AppendLine("| policy | requests | failed | req/s | tok/s | TTFT p50 (s) | TTFT p99 (s) | adapter loads (sum; per replica) | loads per distinct adapter | device-slot hit rate | host hit rate |");
        sb.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (var p in r.Policies)
        {
            sb.AppendLine(inv, $"| {p.Policy} | {p.Requests} | {p.Failed} | {p.RequestsPerSecond:F2} | {p.TokensPerSecond:F1} | {p.TtftP50:F3} | {p.TtftP99:F3} | " +
                $"{p.TotalLoads:F0} ({string.Join(" + ", p.LoadsPerReplica.Select(l => l.ToString("F0", inv)))}) | " +
                $"{p.TotalLoads / Math.Max(1, p.DistinctAdaptersRequested):F2} | {p.DeviceHitRate:P1} | {p.HostHitRate:P1} |");
        }
        if (r.Policies.Count == 2)
        {
            var (a, b) = (r.Policies[0], r.Policies[1]);
            sb.AppendLine();
            sb.AppendLine(inv, $"Affinity ÷ round robin: throughput ×{a.RequestsPerSecond / b.RequestsPerSecond:F2}, TTFT p50 ×{a.TtftP50 / b.TtftP50:F2}, " +
                $"TTFT p99 ×{a.TtftP99 / b.TtftP99:F2}, adapter loads ×{a.TotalLoads / Math.Max(1, b.TotalLoads):F2}.");
        }
        var f = r.Failover;
        sb.AppendLine();
        string failures = f.FailuresByStatus.Count == 0 ? "none" : string.Join(", ", f.FailuresByStatus.Select(kv => $"{kv.Value} {kv.Key}"));
        string recovery = f.LastFailureSeconds is double last
            ? FormattableString.Invariant($"; the last failure ended at {last:F1} s, {last - f.KilledAtSeconds:F1} s after the kill, and every later request succeeded.")
            : ".";
        sb.AppendLine(inv, $"Failover ({f.Policy}): replica {f.Killed} killed with SIGKILL at {f.KilledAtSeconds:F1} s. {f.Failed} of {f.Requests} requests failed ({failures}){recovery}");
        return sb.ToString();
    }

    private static long ParseBytes(string size) => Core.Units.ByteSize.Parse(size);

    private static void PlotLoads(ScaleOutResult r, string path)
    {
        var plot = new Plot();
        var palette = new ScottPlot.Palettes.Category10();
        int n = r.Settings.Replicas;
        var bars = new List<Bar>();
        for (int p = 0; p < r.Policies.Count; p++)
        {
            for (int i = 0; i < n; i++)
            {
                bars.Add(new Bar { Position = p * (n + 1) + i, Value = r.Policies[p].LoadsPerReplica[i], FillColor = palette.GetColor(i) });
            }
        }
        plot.Add.Bars(bars);
        var ticks = r.Policies.Select((pol, p) => new Tick(p * (n + 1) + (n - 1) / 2.0, $"{pol.Policy}\n{pol.TotalLoads:F0} loads, {pol.RequestsPerSecond:F2} req/s")).ToArray();
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericManual(ticks);
        plot.Axes.Margins(bottom: 0);
        plot.YLabel("adapter loads (read + squeeze) per replica");
        plot.Title($"{n} replicas, {r.Settings.AdapterIds.Count} adapters (Zipf α {r.Settings.ZipfAlpha}): loads per replica, bar = one replica");
        plot.SavePng(path, 900, 520);
    }

    private static void PlotFailover(FailoverResult f, string path)
    {
        var plot = new Plot();
        double[] xs = Enumerable.Range(0, f.OkPerSecond.Count).Select(i => (double)i).ToArray();
        var ok = plot.Add.Scatter(xs, f.OkPerSecond.Select(v => (double)v).ToArray());
        ok.LegendText = "requests completed OK per second";
        var failed = plot.Add.Scatter(xs, f.FailedPerSecond.Select(v => (double)v).ToArray());
        failed.LegendText = "requests failed per second";
        var kill = plot.Add.VerticalLine(f.KilledAtSeconds);
        kill.LegendText = $"{f.Killed} killed (SIGKILL)";
        kill.LinePattern = LinePattern.Dashed;
        plot.XLabel("seconds into the run");
        plot.YLabel("requests per second");
        plot.Title($"Failover behind HAProxy ({f.Policy}): {f.Failed} of {f.Requests} requests failed");
        plot.ShowLegend();
        plot.SavePng(path, 900, 480);
    }
}
