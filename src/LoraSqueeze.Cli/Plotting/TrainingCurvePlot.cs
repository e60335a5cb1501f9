using LoraSqueeze.Training.Loop;
using ScottPlot;

namespace LoraSqueeze.Cli.Plotting;

/// <summary>Training loss per step (raw and smoothed), eval loss, and a vertical line at each squeeze or merge.</summary>
public static class TrainingCurvePlot
{
    public static void Write(TrainingLog log, string title, string pngPath)
    {
        var plot = new Plot();
        if (log.Steps.Count > 0)
        {
            var x = log.Steps.Select(s => (double)s.Step).ToArray();
            var y = log.Steps.Select(s => s.Loss).ToArray();
            var raw = plot.Add.Scatter(x, y);
            raw.LegendText = "train loss";
            raw.MarkerSize = 0;
            raw.LineWidth = 1;
            raw.Color = Colors.Blue.WithAlpha(0.3);
            var smooth = plot.Add.Scatter(x, Ema(y, 0.9));
            smooth.LegendText = "train loss (EMA 0.9)";
            smooth.MarkerSize = 0;
            smooth.Color = Colors.Blue;
        }
        if (log.Evals.Count > 0)
        {
            var ev = plot.Add.Scatter(log.Evals.Select(e => (double)e.Step).ToArray(), log.Evals.Select(e => e.Loss).ToArray());
            ev.LegendText = "eval loss";
            ev.Color = Colors.Red;
            ev.MarkerSize = 6;
        }
        foreach (var e in log.Events)
        {
            var line = plot.Add.VerticalLine(e.Step);
            line.Color = Colors.Gray;
            line.LinePattern = LinePattern.Dashed;
        }
        plot.Title(title);
        plot.XLabel("step");
        plot.YLabel("cross-entropy (nats/token)");
        plot.ShowLegend();
        plot.SavePng(pngPath, 900, 500);
    }

    private static double[] Ema(double[] y, double beta)
    {
        var o = new double[y.Length];
        double m = 0;
        for (int i = 0; i < y.Length; i++)
        {
            m = beta * m + (1 - beta) * y[i];
            o[i] = m / (1 - Math.Pow(beta, i + 1)); // bias-corrected, so the start is not pulled to 0
        }
        return o;
    }
}
