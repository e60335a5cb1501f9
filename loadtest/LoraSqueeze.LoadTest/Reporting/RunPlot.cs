using LoraSqueeze.LoadTest.Running;
using ScottPlot;

namespace LoraSqueeze.LoadTest.Reporting;

/// <summary>Per-request latency and TTFT against send time for one run (shows warm-up, cache misses and drift).</summary>
public static class RunPlot
{
    public static void Write(IReadOnlyList<RequestResult> results, string title, string pngPath)
    {
        var ok = results.Where(r => r.Ok).ToList();
        var plot = new Plot();
        var latency = plot.Add.ScatterPoints(ok.Select(r => r.StartSeconds).ToArray(), ok.Select(r => r.LatencySeconds).ToArray());
        latency.LegendText = "latency";
        var withTtft = ok.Where(r => r.TtftSeconds is not null).ToList();
        var ttft = plot.Add.ScatterPoints(withTtft.Select(r => r.StartSeconds).ToArray(), withTtft.Select(r => r.TtftSeconds!.Value).ToArray());
        ttft.LegendText = "time to first token";
        plot.Title(title);
        plot.XLabel("send time (s)");
        plot.YLabel("seconds");
        plot.ShowLegend();
        plot.SavePng(pngPath, 900, 500);
    }
}
