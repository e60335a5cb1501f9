using System.Diagnostics;
using Grpc.Core;
using LoraSqueeze.Protos.V1;
using static LoraSqueeze.Server.Tests.InferenceTests;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// Deadlines and cancellation of a generation that is really running on the engine: the sequence is seen in the
/// model's batch producing tokens first, and afterwards it must have been cancelled in the model, left the batch and
/// stopped producing tokens, with the server itself answering DEADLINE_EXCEEDED / CANCELLED.
/// </summary>
[Collection(TimingSensitive.Name)]
public sealed class CancellationTests : IAsyncLifetime
{
    private const int MaxTokens = 256;
    private static readonly TimeSpan StepDelay = TimeSpan.FromMilliseconds(20);

    private TestServer _server = null!;
    private SlowStepModel _model = null!;

    public async Task InitializeAsync()
    {
        // 256 tokens at ≥ 20 ms a step take over 5 s: far beyond the deadline, so only the engine can end them early.
        _server = await TestServer.StartAsync(o => o.MaxTokens = MaxTokens,
            m => _model = new SlowStepModel(m, StepDelay));
        // A first call pays for JIT and lazy set-up; without this warm-up a cold call can spend its 300 ms before
        // reaching the engine at all.
        await _server.Inference.GenerateAsync(Request("warm up", maxTokens: 2));
        _model.Admitted.Clear();
    }

    public async Task DisposeAsync() => await _server.DisposeAsync();

    // Greedy on this prompt, the demo model loops on a few tokens and never says EOS within 256 tokens.
    private static GenerateRequest LongRequest() => Request("hello hello hello hello", maxTokens: MaxTokens, temperature: 0);

    /// <summary>Waits for the first streamed piece and checks the sequence is in the model's batch.</summary>
    private async Task<long> RunningOnTheEngine(AsyncServerStreamingCall<GenerateStreamResponse> call)
    {
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        long id = Assert.Single(_model.Admitted);
        Assert.True(_model.TokensFor(id) > 0);
        Assert.Equal(1, _model.PublishedActiveCount);
        Assert.False(_model.WasCancelled(id));
        return id;
    }

    /// <summary>The engine cancelled the sequence in the model, the batch is empty and its token count is frozen.</summary>
    private async Task<int> StoppedOnTheEngine(long id)
    {
        var watch = Stopwatch.StartNew();
        await Eventually.True(() => Task.FromResult(_model.WasCancelled(id) && _model.PublishedActiveCount == 0));
        // Promptly: a step or two after the call ended, not after the remaining ~5 s of generation.
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(2), $"left the batch only after {watch.Elapsed}");
        int tokens = _model.TokensFor(id);
        var metrics = await MetricsText.ReadAsync(_server);
        double counted = MetricsText.Value(metrics, "lorasqueeze_generated_tokens_total");
        await Task.Delay(300);
        metrics = await MetricsText.ReadAsync(_server);
        Assert.Equal(tokens, _model.TokensFor(id));
        Assert.Equal(counted, MetricsText.Value(metrics, "lorasqueeze_generated_tokens_total"));
        Assert.Equal(0, MetricsText.Value(metrics, "lorasqueeze_running_requests"));
        Assert.InRange(tokens, 1, MaxTokens / 2);
        return tokens;
    }

    /// <summary>
    /// The server's own record of the call (not the client's local status): one of <paramref name="statuses"/>, and
    /// no other generate call than the warm-up finished OK.
    /// </summary>
    private async Task ServerRecorded(string method, params string[] statuses)
    {
        await Eventually.True(async () =>
        {
            var metrics = await MetricsText.ReadAsync(_server);
            return statuses.Sum(s => MetricsText.Value(metrics, "lorasqueeze_requests_total", ("method", method), ("status", s))) == 1;
        });
        var metrics = await MetricsText.ReadAsync(_server);
        Assert.Equal(1, MetricsText.Value(metrics, "lorasqueeze_requests_total", ("status", "OK")));
    }

    [Fact]
    public async Task A_server_side_deadline_stops_a_running_generation()
    {
        using var call = _server.Inference.GenerateStream(LongRequest(), deadline: DateTime.UtcNow.AddMilliseconds(300));
        long id = await RunningOnTheEngine(call);

        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
        });
        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        // 300 ms at 20 ms or more a step: about 15 tokens, far from the 256 asked for.
        int tokens = await StoppedOnTheEngine(id);
        // The client's deadline timer and the server's fire together; when the client's wins, it resets the stream
        // and the server sees a cancellation a moment before its own deadline.
        await ServerRecorded("Inference/GenerateStream", "DeadlineExceeded", "Cancelled");
        Assert.True(tokens <= 30, $"{tokens} tokens generated within a 300 ms deadline");
    }

    [Fact]
    public async Task Cancelling_a_running_stream_stops_its_sequence()
    {
        using var cts = new CancellationTokenSource();
        using var call = _server.Inference.GenerateStream(LongRequest(), cancellationToken: cts.Token);
        long id = await RunningOnTheEngine(call);
        // Let it run a few more steps, then cancel.
        await Eventually.True(() => Task.FromResult(_model.TokensFor(id) >= 5));
        await cts.CancelAsync();

        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
        });
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await StoppedOnTheEngine(id);
        await ServerRecorded("Inference/GenerateStream", "Cancelled");

        // The server keeps serving.
        var after = await _server.Inference.GenerateAsync(Request("still serving", maxTokens: 3));
        Assert.NotEmpty(after.TokenIds);
    }

    [Fact]
    public async Task A_unary_deadline_stops_a_running_generation()
    {
        var call = _server.Inference.GenerateAsync(LongRequest(), deadline: DateTime.UtcNow.AddMilliseconds(300));
        // Unary: no piece to wait for, so watch the model's batch instead.
        await Eventually.True(() => Task.FromResult(!_model.Admitted.IsEmpty && _model.TokensFor(_model.Admitted.Single()) > 0));
        long id = _model.Admitted.Single();
        Assert.False(_model.WasCancelled(id));

        var ex = await Assert.ThrowsAsync<RpcException>(() => call.ResponseAsync);
        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        await ServerRecorded("Inference/Generate", "DeadlineExceeded", "Cancelled");
        await Eventually.True(() => Task.FromResult(_model.WasCancelled(id) && _model.PublishedActiveCount == 0));
        int tokens = _model.TokensFor(id);
        await Task.Delay(300);
        Assert.Equal(tokens, _model.TokensFor(id));
        Assert.True(tokens <= 30, $"{tokens} tokens generated within a 300 ms deadline");
    }
}
