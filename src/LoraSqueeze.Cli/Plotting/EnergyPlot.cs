using ScottPlot;

namespace LoraSqueeze.Cli.Plotting;

/// <summary>
/// Retained energy Σ_{i≤k}σᵢ²/‖ΔW‖²_F against rank k, one line per module type (q_proj, down_proj, …) averaged over
/// layers, with the spread over layers shaded. The denominator is the module's full ‖ΔW‖²_F, not the sum of the values
/// shown, so a dense module whose randomized spectrum was cut at 128 values does not falsely reach 1.
/// </summary>
public static class EnergyPlot
{
    public static void Write(string adapterName, IReadOnlyList<(string Type, double[] Values, double TotalEnergy)> modules, string pngPath)
    {
        var plot = new Plot();
        int maxRank = 1;
        foreach (var group in modules.GroupBy(m => m.Type).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            int n = Math.Max(1, group.Max(m => m.Values.Length));
            maxRank = Math.Max(maxRank, n);
            var curves = group.Select(m => Curve(m.Values, m.TotalEnergy, n)).ToList();
            var ranks = Enumerable.Range(1, n).Select(k => (double)k).ToArray();
            var mean = Enumerable.Range(0, n).Select(k => curves.Average(c => c[k])).ToArray();
            var low = Enumerable.Range(0, n).Select(k => curves.Min(c => c[k])).ToArray();
            var high = Enumerable.Range(0, n).Select(k => curves.Max(c => c[k])).ToArray();
            var line = plot.Add.Scatter(ranks, mean);
            line.LegendText = $"{group.Key} ({group.Count()} module{(group.Count() == 1 ? "" : "s")})";
            line.LineWidth = 2;
            line.MarkerSize = n <= 32 ? 5 : 0;
            if (group.Count() > 1)
            {
                var band = plot.Add.FillY(ranks, low, high);
                band.FillColor = line.Color.WithAlpha(0.15);
                band.LineWidth = 0;
            }
        }
        var guide = plot.Add.HorizontalLine(0.9);
        guide.LinePattern = LinePattern.Dashed;
        guide.Color = Colors.Gray;
        guide.LineWidth = 1;
        guide.LegendText = "90 % energy";
        plot.Title($"{adapterName}: retained energy vs rank per module type");
        plot.XLabel("rank k (singular values kept)");
        plot.YLabel("retained energy Σᵢ≤ₖ σᵢ² / ‖ΔW‖²");
        plot.Axes.SetLimits(0.5, maxRank + 0.5, 0, 1.02);
        plot.Axes.Bottom.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { IntegerTicksOnly = true }; // ranks are whole numbers
        plot.Legend.Alignment = Alignment.LowerRight;
        plot.ShowLegend();
        plot.SavePng(pngPath, 1000, 600);
    }

    // Cumulative energy fraction at ranks 1..n (values beyond those held add nothing).
    private static double[] Curve(double[] values, double total, int n)
    {
        var curve = new double[n];
        double kept = 0;
        for (int k = 0; k < n; k++)
        {
            if (k < values.Length) kept += values[k] * values[k];
            curve[k] = total > 0 ? Math.Min(1, kept / total) : 1;
        }
        return curve;
    }
}
