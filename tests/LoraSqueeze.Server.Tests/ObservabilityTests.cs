using Grpc.Health.V1;
using Grpc.Reflection.V1Alpha;
using LoraSqueeze.Testing;
using static LoraSqueeze.Server.Tests.InferenceTests;

namespace LoraSqueeze.Server.Tests;

/// <summary>/metrics after traffic, grpc.health.v1 and server reflection, as stock tools use them.</summary>
public sealed class ObservabilityTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Metrics_are_present_after_traffic()
    {
        await _server.Inference.GenerateAsync(Request("metrics", "demo-r8", maxTokens: 5));
        using var stream = _server.Inference.GenerateStream(Request("metrics", maxTokens: 5));
        while (await stream.ResponseStream.MoveNext(CancellationToken.None)) { }

        var text = await MetricsText.ReadAsync(_server);
        Assert.Equal(1, MetricsText.Value(text, "lorasqueeze_requests_total", ("method", "Inference/Generate"), ("status", "OK")));
        Assert.Equal(1, MetricsText.Value(text, "lorasqueeze_requests_total", ("method", "Inference/GenerateStream"), ("status", "OK")));
        Assert.Equal(2, MetricsText.Value(text, "lorasqueeze_time_to_first_token_seconds_count"));
        Assert.True(MetricsText.Value(text, "lorasqueeze_request_duration_seconds_count", ("method", "Inference/Generate")) >= 1);
        Assert.True(MetricsText.Value(text, "lorasqueeze_generated_tokens_total") >= 2);
        Assert.True(MetricsText.Value(text, "lorasqueeze_batch_size_count") >= 2);
        Assert.Equal(1, MetricsText.Value(text, "lorasqueeze_adapter_loads_total", ("result", "ok")));
        Assert.Equal(1, MetricsText.Value(text, "lorasqueeze_adapter_hits_total", ("tier", "disk")));
        Assert.Equal(1, MetricsText.Value(text, "lorasqueeze_squeeze_duration_seconds_count"));
        Assert.Equal(1, MetricsText.Value(text, "lorasqueeze_adapter_retained_energy_count"));
        Assert.Equal(1, MetricsText.Value(text, "lorasqueeze_adapter_slots_used"));
        Assert.Equal(_server.Options.Slots, MetricsText.Value(text, "lorasqueeze_adapter_slots"));
        Assert.True(MetricsText.Value(text, "lorasqueeze_adapter_bytes", ("tier", "host")) > 0);
        Assert.True(MetricsText.Value(text, "lorasqueeze_adapter_bytes", ("tier", "device")) > 0);
        Assert.Contains("lorasqueeze_queue_depth", text);
        // No adapter-id labels, except in the one LoRA residency series the gateways' contract asks for (a single
        // series at any time: its label set is replaced, not added to, so it stays bounded).
        var withId = text.Split('\n').Where(l => l.Contains("demo-r8", StringComparison.Ordinal)).ToList();
        Assert.Equal("lorasqueeze_lora_requests_info{", Assert.Single(withId)[..31]);
    }

    [Fact]
    public async Task Metrics_pass_promtool_check_metrics()
    {
        await _server.Inference.GenerateAsync(Request("lint", "demo-r4", maxTokens: 3));
        var text = await MetricsText.ReadAsync(_server);
        // Prometheus's own linter (Debian's prometheus package; .ci/run installs it).
        var (code, stdout, stderr) = ChildProcess.Run("promtool", ["check", "metrics"], TimeSpan.FromSeconds(60), stdin: text);
        Assert.True(code == 0 && stdout.Trim().Length == 0 && stderr.Trim().Length == 0, $"promtool exit {code}:\n{stdout}\n{stderr}");
        // What an operator needs and had to guess before: budgets, queue wait, KV-cache use, process and GC figures.
        foreach (var name in (string[])["lorasqueeze_adapter_slots", "lorasqueeze_adapter_slot_bytes", "lorasqueeze_host_cache_budget_bytes",
                     "lorasqueeze_queue_wait_seconds_count", "lorasqueeze_kv_cache_usage_ratio", "process_working_set_bytes",
                     "dotnet_collection_count_total"])
            Assert.Contains(name, text);
        Assert.Equal(_server.Options.HostCacheBytes, MetricsText.Value(text, "lorasqueeze_host_cache_budget_bytes"));
        Assert.Contains("lorasqueeze_adapter_evictions_total{tier=\"host\"} 0", text);                 // zero-initialised
    }

    [Fact]
    public async Task Metrics_are_only_on_the_metrics_port()
    {
        using var http = new HttpClient();
        var onGrpcPort = new UriBuilder(_server.Endpoints.MetricsUri) { Port = _server.Endpoints.Grpc.Port }.Uri;
        // The gRPC port speaks HTTP/2 only; an HTTP/1.1 scrape there gets nothing.
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetStringAsync(onGrpcPort));
    }

    [Fact]
    public async Task Health_reports_serving()
    {
        var health = new Health.HealthClient(_server.Channel);
        var reply = await health.CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
    }

    [Theory]
    [InlineData("lorasqueeze.v1.Inference")]
    [InlineData("lorasqueeze.v1.Adapters")]
    public async Task Health_reports_each_service_by_name(string service)
    {
        var health = new Health.HealthClient(_server.Channel);
        var reply = await health.CheckAsync(new HealthCheckRequest { Service = service });
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
    }

    [Fact]
    public async Task Reflection_lists_the_services()
    {
        var reflection = new ServerReflection.ServerReflectionClient(_server.Channel);
        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var names = call.ResponseStream.Current.ListServicesResponse.Service.Select(s => s.Name).ToList();
        Assert.Contains("lorasqueeze.v1.Inference", names);
        Assert.Contains("lorasqueeze.v1.Adapters", names);
        Assert.Contains("grpc.health.v1.Health", names);
    }
}
