using System.Net;
using Grpc.Core;
using LoraSqueeze.Testing;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// SIGTERM (the host stopping) drains: a generation already running finishes with its whole answer, while new
/// connections are refused and new gRPC calls answer UNAVAILABLE (so a load balancer retries elsewhere).
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class GracefulShutdownTests
{
    [Fact]
    public async Task Stopping_lets_running_generations_finish_and_refuses_new_ones()
    {
        SlowStepModel model = null!;
        var server = await TestServer.StartAsync(o => o.ShutdownDrainSeconds = 30, m => model = new SlowStepModel(m, TimeSpan.FromMilliseconds(25)));
        try
        {
            // 40 tokens at ≥ 25 ms a step: over a second of generation still to do when the stop begins.
            var running = OpenAiHttp.PostAsync(server, "/completions", new { model = DemoFixture.Assets.AdapterIds[0], prompt = "hello hello", max_tokens = 40, temperature = 0 });
            await Eventually.True(() => Task.FromResult(model.PublishedActiveCount == 1));
            var stopping = server.StopAsync();

            // Kestrel stops first: it stops listening (a new connection is refused, so a balancer's health check fails and
            // HAProxy re-dispatches) and waits for the requests it is serving; the engine drains after it.
            await Eventually.True(async () =>
            {
                using var fresh = new HttpClient();
                try
                {
                    using var health = await fresh.GetAsync(new Uri($"http://{server.Endpoints.Http}/health"));
                    return health.StatusCode == HttpStatusCode.ServiceUnavailable;
                }
                catch (HttpRequestException)
                {
                    return true;
                }
            });
            var grpc = await Assert.ThrowsAsync<RpcException>(async () => await server.Inference.GenerateAsync(InferenceTests.Request("x", maxTokens: 2)));
            Assert.Equal(StatusCode.Unavailable, grpc.StatusCode);

            var (status, body) = await running;
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(40, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
            Assert.Equal("length", body.GetProperty("choices")[0].GetProperty("finish_reason").GetString());
            await stopping;
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}
