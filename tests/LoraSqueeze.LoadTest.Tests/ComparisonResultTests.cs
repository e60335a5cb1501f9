using LoraSqueeze.LoadTest.Comparison;
using LoraSqueeze.LoadTest.Reporting;

namespace LoraSqueeze.LoadTest.Tests;

/// <summary>How a comparison turns its windows into the figures the targets are judged on.</summary>
public sealed class ComparisonResultTests
{
    private static LoadReport Report(string name, double steady, double endToEnd) => new()
    {
        Name = name, Target = "", Mode = "", Workload = "", ErrorsByStatus = new Dictionary<string, int>(),
        TimeToFirstToken = Percentiles.Summarize([]), Latency = Percentiles.Summarize([]),
        OutputTokensPerSecond = endToEnd, SteadyOutputTokensPerSecond = steady,
    };

    private static ComparisonResult Result(params ScenarioResult[] windows) => new()
    {
        ModelName = "m", ModelDir = "/m", Machine = "", Command = "",
        Settings = new ComparisonSettings { ModelName = "m", ModelDir = "/m", WorkDir = "/w", Launcher = "l" },
        Scenarios = windows,
    };

    [Fact]
    public void Rounds_rotate_so_every_kind_takes_every_position()
    {
        Assert.Equal(["base", "uniform", "base-padded", "padded"], ComparisonRunner.RoundOrder(1));
        Assert.Equal(["uniform", "base-padded", "padded", "base"], ComparisonRunner.RoundOrder(2));
        Assert.Equal(["padded", "base", "uniform", "base-padded"], ComparisonRunner.RoundOrder(4));
        Assert.Equal(ComparisonRunner.RoundOrder(1), ComparisonRunner.RoundOrder(5));
        for (int position = 0; position < 4; position++)
            Assert.Equal(4, Enumerable.Range(1, 4).Select(r => ComparisonRunner.RoundOrder(r)[position]).Distinct().Count());
    }

    [Fact]
    public void Ratios_divide_means_over_rounds_and_pair_windows_within_a_round()
    {
        var c = Result(
            new ScenarioResult("base", "uniform", 0, 16, Report("b1", 100, 90), 1),
            new ScenarioResult("uniform", "uniform", 1000, 16, Report("u1", 95, 80), 1),
            new ScenarioResult("padded", "padded", 1000, 128, Report("p1", 60, 50), 1),
            new ScenarioResult("uniform", "uniform", 1000, 16, Report("u2", 105, 99), 2),
            new ScenarioResult("padded", "padded", 1000, 128, Report("p2", 70, 60), 2),
            new ScenarioResult("base", "uniform", 0, 16, Report("b2", 120, 110), 2),
            new ScenarioResult("sweep", "uniform", 5, 16, Report("s5", 110, 100)),
            new ScenarioResult("uniform-cold", "uniform", 1000, 16, Report("cold", 55, 50)));

        Assert.True(c.UsesSteadyWindow);
        Assert.Equal(110, c.BaseTokensPerSecond, 12);                       // mean of 100 and 120
        Assert.Equal(100.0 / 110, c.KindRatio("uniform"), 12);              // mean 100 over 110
        Assert.Equal(65.0 / 110, c.KindRatio("padded"), 12);
        Assert.Equal([0.95, 105.0 / 120], c.PairedRatios("uniform"));
        Assert.Single(c.Windows("sweep"));                                  // one-off windows count although round 0
        Assert.Equal(55.0 / 110, c.KindRatio("uniform-cold"), 12);
        // Padded lost 45/110, ours 10/110: 4.5 ×.
        Assert.Equal(4.5, c.LossMultiple, 9);
    }

    [Fact]
    public void Padded_is_divided_by_base_only_on_its_own_server_when_measured()
    {
        var c = Result(
            new ScenarioResult("base", "uniform", 0, 16, Report("b", 100, 100), 1),
            new ScenarioResult("uniform", "uniform", 1000, 16, Report("u", 95, 95), 1),
            new ScenarioResult("base-padded", "padded", 0, 128, Report("bp", 120, 120), 1),
            new ScenarioResult("padded", "padded", 1000, 128, Report("p", 60, 60), 1));
        Assert.Equal("base-padded", c.CeilingOf("padded"));
        Assert.Equal("base", c.CeilingOf("uniform"));
        Assert.Equal(0.5, c.KindRatio("padded"), 12);
        Assert.Equal(0.95, c.KindRatio("uniform"), 12);
        Assert.Equal([0.5], c.PairedRatios("padded"));
        Assert.Equal(10, c.LossMultiple, 9);                             // 50 % against 5 %
        // A comparison without those windows (written before they existed) divides padded by base-only on ours' server.
        var old = Result(c.Scenarios.Where(x => x.Kind != "base-padded").ToArray());
        Assert.Equal("base", old.CeilingOf("padded"));
        Assert.Equal(0.6, old.KindRatio("padded"), 12);
    }

    [Fact]
    public void Without_a_steady_figure_everywhere_the_end_to_end_figures_are_compared()
    {
        var c = Result(
            new ScenarioResult("base", "uniform", 0, 16, Report("b", 100, 80), 1),
            new ScenarioResult("uniform", "uniform", 1000, 16, Report("u", double.NaN, 72), 1));
        Assert.False(c.UsesSteadyWindow);
        Assert.Equal(0.9, c.KindRatio("uniform"), 12);
    }

    [Fact]
    public void The_summary_says_met_or_not_met_from_the_means()
    {
        var met = Result(
            new ScenarioResult("base", "uniform", 0, 16, Report("b", 100, 100), 1),
            new ScenarioResult("uniform", "uniform", 1000, 16, Report("u", 95, 95), 1),
            new ScenarioResult("padded", "padded", 1000, 128, Report("p", 70, 70), 1));
        var text = ComparisonReport.Markdown(met, "x");
        Assert.Contains("≥ 0.90 × base: **met**", text, StringComparison.Ordinal);
        Assert.Contains("padded loss ≥ 4 × ours: **met** (6.0 ×)", text, StringComparison.Ordinal);

        var notMet = Result(
            new ScenarioResult("base", "uniform", 0, 16, Report("b", 100, 100), 1),
            new ScenarioResult("uniform", "uniform", 1000, 16, Report("u", 85, 85), 1),
            new ScenarioResult("padded", "padded", 1000, 128, Report("p", 50, 50), 1));
        text = ComparisonReport.Markdown(notMet, "x");
        Assert.Contains("≥ 0.90 × base: **not met**", text, StringComparison.Ordinal);
        Assert.Contains("padded loss ≥ 4 × ours: **not met** (3.3 ×)", text, StringComparison.Ordinal);
    }
}
