using ScottPlot;

namespace LoraSqueeze.Cli.Plotting;

/// <summary>Retained energy Σ_{i≤k}σᵢ²/Σσᵢ² against rank k, averaged per module type (q_proj, down_proj, …).</summary>
public static class EnergyPlot
{
    public static void Write(IReadOnlyList<(string Type, double[] Values)> modules, string pngPath)
    {
        var plot = new Plot();
        foreach (var group in modules.GroupBy(m => m.Type).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            int n = group.Max(m => m.Values.Length);
            var mean = new double[n];
            foreach (var (_, v) in group)
            {
                double total = v.Sum(x => x * x), kept = 0;
                for (int k = 0; k < n; k++)
                {
                    if (k < v.Length) kept += v[k] * v[k];
                    mean[k] += (total > 0 ? kept / total : 1) / group.Count();
                }
            }
            var ranks = Enumerable.Range(1, n).Select(k => (double)k).ToArray();
            var line = plot.Add.Scatter(ranks, mean);
            line.LegendText = group.Key;
            line.MarkerSize = 0;
        }
        plot.Title("Retained energy vs rank");
        plot.XLabel("rank k");
        plot.YLabel("Σ_{i≤k} σ² / Σ σ²");
        plot.ShowLegend();
        plot.SavePng(pngPath, 800, 500);
    }
}
