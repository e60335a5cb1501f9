using LoraSqueeze.LoadTest.Reporting;
using LoraSqueeze.LoadTest.Running;

namespace LoraSqueeze.LoadTest.Tests;

public sealed class ReportingTests
{
    [Fact]
    public void Percentiles_interpolate_linearly_like_numpy()
    {
        double[] x = [4, 1, 3, 2];
        // numpy.percentile([1, 2, 3, 4], [0, 50, 90, 99, 100]) = 1, 2.5, 3.7, 3.97, 4
        Assert.Equal(1.0, Percentiles.Of(x, 0), 12);
        Assert.Equal(2.5, Percentiles.Of(x, 50), 12);
        Assert.Equal(3.7, Percentiles.Of(x, 90), 12);
        Assert.Equal(3.97, Percentiles.Of(x, 99), 12);
        Assert.Equal(4.0, Percentiles.Of(x, 100), 12);
        Assert.Equal(7.0, Percentiles.Of([7.0], 99), 12);
        Assert.True(double.IsNaN(Percentiles.Of([], 50)));
        Assert.Throws<ArgumentOutOfRangeException>(() => Percentiles.Of(x, 101));
    }

    [Fact]
    public void Percentiles_of_one_to_one_hundred()
    {
        var x = Enumerable.Range(1, 100).Select(i => (double)i).ToList();
        var s = Percentiles.Summarize(x);
        Assert.Equal(50.5, s.P50, 12);
        Assert.Equal(90.1, s.P90, 12);
        Assert.Equal(99.01, s.P99, 12);
        Assert.Equal(50.5, s.Mean, 12);
        Assert.Equal(100, s.Max);
    }

    [Fact]
    public void Report_counts_add_up_and_throughput_uses_the_measured_span()
    {
        RequestResult[] results =
        [
            new(0, "a", 0.0, 2.0, 0.5, 10, 20, "OK"),
            new(1, "", 1.0, 3.0, 0.25, 10, 30, "OK"),
            new(2, "b", 1.0, 1.5, null, 10, 0, "ResourceExhausted"),
            new(3, "a", 2.0, 4.0, 1.0, 10, 50, "OK"),
        ];
        var r = LoadReport.From("t", "http://127.0.0.1:1", "closed", "w", results, null, [], []);
        Assert.Equal(4, r.Sent);
        Assert.Equal(3, r.Succeeded);
        Assert.Equal(1, r.Failed);
        Assert.Equal(1, r.ErrorsByStatus["ResourceExhausted"]);
        Assert.Equal(3, r.AdapterRequests);
        Assert.Equal(1, r.BaseRequests);
        Assert.Equal(2, r.DistinctAdapters);
        Assert.Equal(4.0, r.SpanSeconds, 12);
        Assert.Equal(100, r.OutputTokens);
        Assert.Equal(25.0, r.OutputTokensPerSecond, 12);
        Assert.Equal(0.75, r.RequestsPerSecond, 12);
        Assert.Equal(0.5, r.TimeToFirstToken.P50, 12);
        Assert.Equal(2.0, r.Latency.P50, 12);
    }

    [Fact]
    public async Task Steady_probe_divides_the_counter_change_by_the_window_and_gives_up_when_cut_short()
    {
        // A counter that grows by 200 tokens per second of the run's clock.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var probe = new SteadyStateProbe(_ => Task.FromResult(200 * clock.Elapsed.TotalSeconds), fromFraction: 0.5);
        // A 1.5 s window (1.5 s to 3 s): a stall of the test process between reading the clock and the counter (a GC, a
        // descheduled thread while other test assemblies run on two cores) shifts the rate by stall/window, so the
        // window must be long against such stalls (at 0.5 s, a 25 ms one already left the 5 % band below).
        await probe.RunAsync(clock, TimeSpan.FromSeconds(3), () => false, CancellationToken.None);
        // A busy machine can only make the timers fire late, so the window has no useful upper bound.
        Assert.True(probe.WindowSeconds >= 0.45, $"window {probe.WindowSeconds} s");
        Assert.InRange(probe.OutputTokensPerSecond!.Value, 190, 210);

        var cut = new SteadyStateProbe(_ => Task.FromResult(1.0), fromFraction: 0.5);
        await cut.RunAsync(System.Diagnostics.Stopwatch.StartNew(), TimeSpan.FromMilliseconds(200), () => true, CancellationToken.None);
        Assert.Null(cut.OutputTokensPerSecond);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SteadyStateProbe(_ => Task.FromResult(0.0), fromFraction: 1));
    }

    [Theory]
    [InlineData(0.95, 0.80, true)]   // ours lost 5 %, padded 20 %: exactly 4 ×
    [InlineData(0.95, 0.85, false)]  // 15 % is only 3 ×
    [InlineData(1.02, 0.90, true)]   // ours lost nothing, padded lost 10 %
    [InlineData(1.02, 1.01, false)]  // neither lost anything: no evidence
    public void Padded_loss_target_compares_losses_against_base(double ours, double padded, bool met) =>
        Assert.Equal(met, LoraSqueeze.LoadTest.Comparison.ComparisonReport.PaddedLossTargetMet(ours, padded));
}
