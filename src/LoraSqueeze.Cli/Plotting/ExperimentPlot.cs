using LoraSqueeze.Training.Runs;
using ScottPlot;

namespace LoraSqueeze.Cli.Plotting;

/// <summary>Held-out perplexity against target rank, one line per method, one panel per task plus the mean.</summary>
public static class ExperimentPlot
{
    public static void Write(ExperimentResult result, string pngPath)
    {
        var tasks = result.Options.Tasks.Append("mean").ToList();
        var multi = new Multiplot();
        multi.AddPlots(tasks.Count);
        multi.Layout = new ScottPlot.MultiplotLayouts.Columns(); // panels side by side
        string[] methods = [ExperimentRunner.Direct, ExperimentRunner.DirectTuned, ExperimentRunner.Post, ExperimentRunner.Cont, ExperimentRunner.In];
        Color[] colors = [Colors.Black, Colors.Gray, Colors.OrangeRed, Colors.DodgerBlue, Colors.ForestGreen];
        var ranks = result.Options.TargetRanks.ToArray();
        for (int t = 0; t < tasks.Count; t++)
        {
            var plot = multi.GetPlot(t);
            for (int m = 0; m < methods.Length; m++)
            {
                var y = ranks.Select(r => Value(result, tasks[t], r, methods[m])).ToArray();
                var line = plot.Add.Scatter(ranks.Select(r => Math.Log2(r)).ToArray(), y);
                line.LegendText = methods[m];
                line.Color = colors[m];
                line.MarkerSize = 7;
            }
            if (tasks[t] != "mean" && result.SourcePerplexity.TryGetValue(tasks[t], out var src))
            {
                var h = plot.Add.HorizontalLine(src);
                h.LinePattern = LinePattern.Dotted;
                h.Color = Colors.Gray;
                h.LegendText = $"source r={result.Options.SourceRank}";
            }
            plot.Title(tasks[t] == "mean" ? "mean over tasks" : tasks[t]);
            plot.XLabel("target rank");
            plot.YLabel("held-out perplexity");
            plot.Axes.Bottom.SetTicks(ranks.Select(r => Math.Log2(r)).ToArray(), ranks.Select(r => r.ToString()).ToArray());
            // One legend (first panel), in the upper right where the curves, falling with rank, leave room.
            plot.Legend.IsVisible = t == 0;
            plot.Legend.Alignment = Alignment.UpperRight;
        }
        multi.SavePng(pngPath, 420 * tasks.Count, 420);
    }

    private static double Value(ExperimentResult result, string task, int rank, string method)
    {
        var cells = result.Cells.Where(c => c.TargetRank == rank && c.Method == method && (task == "mean" || c.Task == task)).ToList();
        return cells.Count == 0 ? double.NaN : cells.Average(c => c.Perplexity);
    }
}
