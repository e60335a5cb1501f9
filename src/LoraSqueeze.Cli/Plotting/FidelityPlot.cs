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
}
