using LoraSqueeze.LoadTest.Running;
using LoraSqueeze.LoadTest.Workload;
using LoraSqueeze.Testing;

namespace LoraSqueeze.LoadTest.Tests;

public sealed class GuardAndMetricsTests
{
    [Theory]
    [InlineData("http://127.0.0.1:50051")]
    [InlineData("http://127.8.9.10:1")]
    [InlineData("http://localhost:9090/metrics")]
    [InlineData("http://[::1]:50051")]
    [InlineData("https://LOCALHOST:443")]
    public void Loopback_targets_are_accepted(string target) => LoopbackGuard.Check(target);

    [Theory]
    [InlineData("http://10.0.0.1:50051")]
    [InlineData("http://192.168.1.5:50051")]
    [InlineData("http://example.com:50051")]
    [InlineData("http://localhost.example.com:50051")]
    [InlineData("http://0.0.0.0:50051")]
    [InlineData("http://[2001:db8::1]:50051")]
    [InlineData("ftp://127.0.0.1/")]
    [InlineData("127.0.0.1:50051")]
    [InlineData("not a uri")]
    public void Other_targets_are_refused(string target) => Assert.Throws<ArgumentException>(() => LoopbackGuard.Check(target));

    [Fact]
    public async Task The_runner_refuses_a_remote_target_before_sending_anything()
    {
        var runner = new LoadRunner(new Uri("http://203.0.113.7:50051"));
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => runner.RunAsync(new WorkloadSpec(), new LoadOptions { Duration = TimeSpan.FromSeconds(1) }));
        Assert.Contains("not a loopback address", ex.Message, StringComparison.Ordinal);
    }

    private const string Sample = """
        # HELP lorasqueeze_adapter_hits_total Adapter lookups by tier.
        # TYPE lorasqueeze_adapter_hits_total counter
        lorasqueeze_adapter_hits_total{tier="device"} 12
        lorasqueeze_adapter_hits_total{tier="host"} 3
        lorasqueeze_adapter_hits_total{tier="disk"} 5
        lorasqueeze_adapter_loads_total{result="ok"} 5
        lorasqueeze_adapter_loads_total{result="error"} 1
        lorasqueeze_adapter_evictions_total{tier="device"} 2
        lorasqueeze_requests_total{method="Inference/GenerateStream",status="OK"} 20
        lorasqueeze_requests_total{method="Inference/Generate",status="NotFound"} 1
        weird_label{msg="a \"quoted\" value, with, commas"} 1.5e3
        lorasqueeze_batch_size_sum 96
        lorasqueeze_batch_size_count 16
        lorasqueeze_batch_size_bucket{le="+Inf"} 16
        lorasqueeze_generated_tokens_total 400
        process_start_time_seconds 1.7e9
        """;

    [Fact]
    public void Prometheus_text_is_parsed_with_labels_escapes_and_infinity()
    {
        var samples = PrometheusText.Parse(Sample);
        Assert.Equal(14, samples.Count);
        Assert.Equal(21, PrometheusText.Sum(samples, "lorasqueeze_requests_total"));
        Assert.Equal(20, PrometheusText.Sum(samples, "lorasqueeze_requests_total", ("status", "OK")));
        Assert.Equal("a \"quoted\" value, with, commas", samples.Single(s => s.Name == "weird_label").Labels["msg"]);
        Assert.Equal(1500, samples.Single(s => s.Name == "weird_label").Value);
        Assert.Equal("+Inf", samples.Single(s => s.Name == "lorasqueeze_batch_size_bucket").Labels["le"]);
        Assert.Throws<FormatException>(() => PrometheusText.Parse("this is not a sample"));
    }

    [Fact]
    public void Server_counters_come_from_metrics_and_subtract()
    {
        var after = ServerCounters.From(PrometheusText.Parse(Sample));
        Assert.Equal(12, after.DeviceHits);
        Assert.Equal(3, after.HostHits);
        Assert.Equal(5, after.DiskLoads);
        Assert.Equal(1, after.LoadErrors);
        Assert.Equal(2, after.DeviceEvictions);
        Assert.Equal(6.0, after.MeanBatch, 12);
        Assert.Equal(0.6, after.DeviceHitRate, 12);
        var before = after with { DeviceHits = 2, GeneratedTokens = 100 };
        var delta = after.Minus(before);
        Assert.Equal(10, delta.DeviceHits);
        Assert.Equal(300, delta.GeneratedTokens);
        Assert.Equal(0, delta.DiskLoads);
    }
}
