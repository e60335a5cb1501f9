using LoraSqueeze.Training.Squeeze;
using ScottPlot;

namespace LoraSqueeze.Cli.Plotting;

/// <summary>Squeeze fidelity against rank: mean KL to the exact adapter (log scale) and top-1 agreement, with the base model's KL as the floor line.</summary>
public static class FidelityPlot
{
    public static void Write(FidelityResult r, string pngPath)
    {
        var plot = new Plot();
        double[] ranks = r.Rows.Select(x => (double)x.Rank).ToArray();
        double Floor(double v) => Math.Log10(Math.Max(v, 1e-9));
        var kl = plot.Add.Scatter(ranks, r.Rows.Select(x => Floor(x.MeanKl)).ToArray());
        kl.LegendText = "mean KL(exact ‖ squeezed), log10";
        kl.LineWidth = 2;
        var baseLine = plot.Add.HorizontalLine(Floor(r.BaseKl));
        baseLine.LegendText = "base model's KL to the exact adapter, log10";
        baseLine.LinePattern = LinePattern.Dashed;
        var agree = plot.Add.Scatter(ranks, r.Rows.Select(x => x.Top1Agreement).ToArray());
        agree.LegendText = "top-1 agreement with the exact adapter";
        agree.Axes.YAxis = plot.Axes.Right;
        plot.Axes.Right.Label.Text = "top-1 agreement";
        plot.YLabel("log10 mean KL (nats per token)");
        plot.XLabel("squeeze rank");
        plot.Title($"{r.Adapter} ({r.Kind}): fidelity of the squeeze, {r.Positions} positions");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(pngPath, 900, 520);
    }

    /// <summary>
    /// Several adapters: left, mean KL against rank (log10, one line each); right, mean KL against the mean retained
    /// energy of the same squeezes, which is how far energy predicts the cost in outputs.
    /// </summary>
    public static void WriteMany(IReadOnlyList<FidelityResult> results, string pngPath)
    {
        var multi = new Multiplot();
        multi.AddPlots(2);
        multi.Layout = new ScottPlot.MultiplotLayouts.Columns();
        Plot byRank = multi.GetPlot(0), byEnergy = multi.GetPlot(1);
        static double Log(double v) => Math.Log10(Math.Max(v, 1e-4));   // KL below 1e-4 (an exact squeeze: the rank holds the adapter) drawn at 1e-4
        var palette = new ScottPlot.Palettes.Category10();
        for (int i = 0; i < results.Count; i++)
        {
            var r = results[i];
            var color = palette.GetColor(i);
            var line = byRank.Add.Scatter(r.Rows.Select(x => (double)x.Rank).ToArray(), r.Rows.Select(x => Log(x.MeanKl)).ToArray());
            line.LegendText = $"{r.Adapter} ({r.Kind.ToString().ToLowerInvariant()})";
            line.Color = color;
            line.LineWidth = 2;
            var points = byEnergy.Add.ScatterPoints(r.Rows.Select(x => x.MeanRetainedEnergy).ToArray(), r.Rows.Select(x => Log(x.MeanKl)).ToArray());
            points.Color = color;
            points.MarkerSize = 8;
        }
        foreach (var plot in new[] { byRank, byEnergy })
        {
            var negligible = plot.Add.HorizontalLine(-2);
            negligible.LinePattern = LinePattern.Dashed;
            negligible.Color = Colors.Gray;
            plot.YLabel("log10 mean KL (nats per token; < 1e-4 drawn at −4)");
            plot.Axes.SetLimitsY(-4.3, 0.6);
        }
        byRank.Axes.SetLimitsX(0, results.Max(r => r.Rows.Max(x => x.Rank)) + 2);
        byRank.XLabel("squeeze rank");
        byRank.Title("KL to the unsqueezed adapter (dashed: 0.01)");
        byRank.ShowLegend(Edge.Bottom);
        byEnergy.XLabel("mean retained energy");
        byEnergy.Title("the same squeezes against retained energy");
        multi.SavePng(pngPath, 1300, 640);
    }
}
