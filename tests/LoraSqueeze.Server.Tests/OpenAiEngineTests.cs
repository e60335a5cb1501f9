using System.Diagnostics;
using System.Net;
using System.Text.Json;
using LoraSqueeze.Engine;
using LoraSqueeze.Protos.V1;
using LoraSqueeze.Testing;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// The HTTP door on the same engine as gRPC, with a slowed model so generations overlap reliably: HTTP and gRPC
/// requests share one batch and each gets the tokens it gets alone; a client that disconnects frees its row at once;
/// a full queue answers 429; a stopped engine 503; the LoRA residency gauge tells a router what is resident and awaited.
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class OpenAiEngineTests
{
    private static string Adapter => DemoFixture.Assets.AdapterIds[0];
    private static string OtherAdapter => DemoFixture.Assets.AdapterIds[1];

    [Fact]
    public async Task Http_and_grpc_requests_share_a_batch_and_get_what_each_gets_alone()
    {
        SlowStepModel model = null!;
        await using var server = await TestServer.StartAsync(wrapModel: m => model = new SlowStepModel(m, TimeSpan.FromMilliseconds(15)));
        var grpcRequest = InferenceTests.Request("the quick brown", adapter: OtherAdapter, maxTokens: 16, temperature: 0);
        var httpBody = new { model = Adapter, prompt = "once upon a time", max_tokens = 16, temperature = 0 };

        var grpcAlone = await server.Inference.GenerateAsync(grpcRequest);
        var (_, httpAlone) = await OpenAiHttp.PostAsync(server, "/completions", httpBody);
        model.ResetPeak();

        var grpcTask = server.Inference.GenerateAsync(grpcRequest).ResponseAsync;
        var httpTask = OpenAiHttp.PostAsync(server, "/completions", httpBody);
        var grpcTogether = await grpcTask;
        var (_, httpTogether) = await httpTask;

        Assert.True(model.PeakActiveCount >= 2, $"the two requests never ran in one step (peak {model.PeakActiveCount})");
        Assert.Equal(grpcAlone.TokenIds, grpcTogether.TokenIds);
        Assert.Equal(httpAlone.GetProperty("choices")[0].GetProperty("text").GetString(),
            httpTogether.GetProperty("choices")[0].GetProperty("text").GetString());
    }

    [Fact]
    public async Task A_client_that_disconnects_mid_stream_frees_its_row_at_once()
    {
        SlowStepModel model = null!;
        await using var server = await TestServer.StartAsync(o => o.MaxTokens = 256, m => model = new SlowStepModel(m, TimeSpan.FromMilliseconds(20)));
        await server.Inference.GenerateAsync(InferenceTests.Request("warm up", maxTokens: 2));
        model.Admitted.Clear();

        // A client that never drains a response it abandons (by default .NET reads on for up to 2 s to reuse the
        // connection): closing the response closes the connection, as a browser tab or a killed script does.
        using (var client = new HttpClient(new SocketsHttpHandler { MaxResponseDrainSize = 0, ResponseDrainTimeout = TimeSpan.Zero }))
        using (var request = OpenAiHttp.Request(server, "/completions",
            new { model = Adapter, prompt = "hello hello hello", max_tokens = 256, temperature = 0, stream = true }, null))
        using (var response = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead))
        {
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
            Assert.StartsWith("data: ", await reader.ReadLineAsync(), StringComparison.Ordinal);
            Assert.Equal(1, model.PublishedActiveCount);
        }   // the connection is gone here, 256 tokens (over 5 s) from the end
        long id = Assert.Single(model.Admitted);
        var watch = Stopwatch.StartNew();
        await Eventually.True(() => Task.FromResult(model.WasCancelled(id) && model.PublishedActiveCount == 0));
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"the row was freed only after {watch.Elapsed}");
        Assert.InRange(model.TokensFor(id), 1, 128);
        await Eventually.True(async () =>
            MetricsText.Value(await MetricsText.ReadAsync(server), "lorasqueeze_requests_total", ("method", "/v1/completions"), ("status", "499")) == 1);
    }

    [Fact]
    public async Task A_full_queue_answers_429_and_the_server_recovers()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.MaxBatch = 1;
            o.QueueLength = 1;
        }, m => new SlowStepModel(m, TimeSpan.FromMilliseconds(20)));
        var body = new { model = Adapter, prompt = "hello", max_tokens = 20, temperature = 0 };
        var results = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => OpenAiHttp.PostAsync(server, "/completions", body)));
        Assert.Contains(results, r => r.Status == HttpStatusCode.OK);
        var refused = results.Where(r => r.Status == HttpStatusCode.TooManyRequests).ToList();
        Assert.NotEmpty(refused);
        Assert.All(refused, r => Assert.Equal("rate_limit_error", r.Body.GetProperty("error").GetProperty("type").GetString()));
        var (after, _) = await OpenAiHttp.PostAsync(server, "/completions", body);
        Assert.Equal(HttpStatusCode.OK, after);
    }

    [Fact]
    public async Task A_stopped_engine_answers_503_and_health_says_so()
    {
        await using var server = await TestServer.StartAsync();
        var (ok, _) = await OpenAiHttp.PostAsync(server, "/completions", new { model = Adapter, prompt = "x", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.OK, ok);
        ((InferenceEngine)server.Services.GetService(typeof(InferenceEngine))!).Dispose();
        var (status, body) = await OpenAiHttp.PostAsync(server, "/completions", new { model = Server(server), prompt = "x", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal("service_unavailable", body.GetProperty("error").GetProperty("type").GetString());
        using var health = await OpenAiHttp.Client.GetAsync(new Uri($"http://{server.Endpoints.Http}/health"));
        Assert.Equal(HttpStatusCode.ServiceUnavailable, health.StatusCode);
    }

    private static string Server(TestServer s) => s.ServedModel;

    [Fact]
    public async Task The_lora_residency_gauge_lists_slots_resident_and_awaited_adapters_stamped_with_the_time()
    {
        // One device slot and one row: while a long generation of one adapter holds them, a request for another waits.
        SlowStepModel model = null!;
        await using var server = await TestServer.StartAsync(o =>
        {
            o.Slots = 1;
            o.MaxBatch = 1;
        }, m => model = new SlowStepModel(m, TimeSpan.FromMilliseconds(20)));
        long before = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var first = OpenAiHttp.PostAsync(server, "/completions", new { model = Adapter, prompt = "hello hello", max_tokens = 60, temperature = 0 });
        await Eventually.True(() => Task.FromResult(model.PublishedActiveCount == 1));
        var second = OpenAiHttp.PostAsync(server, "/completions", new { model = OtherAdapter, prompt = "hello", max_tokens = 2, temperature = 0 });

        await Eventually.True(async () =>
        {
            var series = LoraSeries(await MetricsText.ReadAsync(server));
            return series is { } s && s.Running == Adapter && s.Waiting == OtherAdapter;
        }, timeoutMs: 10_000);
        var (maxLora, running, waiting, stamp) = LoraSeries(await MetricsText.ReadAsync(server))!.Value;
        Assert.Equal("1", maxLora);
        Assert.InRange(stamp, before - 1, DateTimeOffset.UtcNow.ToUnixTimeSeconds() + 1);
        Assert.Equal(HttpStatusCode.OK, (await first).Status);
        Assert.Equal(HttpStatusCode.OK, (await second).Status);
        // Only one series at a time: the old label set is removed when the lists change.
        await Eventually.True(async () =>
        {
            var text = await MetricsText.ReadAsync(server);
            return text.Split('\n').Count(l => l.StartsWith("lorasqueeze_lora_requests_info{", StringComparison.Ordinal)) == 1
                && LoraSeries(text) is { Waiting: "" };
        });
    }

    private static (string MaxLora, string Running, string Waiting, double Stamp)? LoraSeries(string metrics)
    {
        var sample = PrometheusText.Parse(metrics).Where(s => s.Name == "lorasqueeze_lora_requests_info").ToList();
        if (sample.Count != 1) return null;
        var s = sample[0];
        return (s.Labels["max_lora"], s.Labels["running_lora_adapters"], s.Labels["waiting_lora_adapters"], s.Value);
    }
}
