using Grpc.Core;
using LoraSqueeze.Protos.V1;

namespace LoraSqueeze.Server.Tests;

/// <summary>Generate and GenerateStream against the real tiny model on a loopback port.</summary>
public sealed class InferenceTests : IAsyncLifetime
{
    private TestServer _server = null!;

    public async Task InitializeAsync() => _server = await TestServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    internal static GenerateRequest Request(string prompt, string adapter = "", int maxTokens = 12, ulong? seed = 7,
        float temperature = 0.8f, bool logprobs = false)
    {
        var r = new GenerateRequest
        {
            Text = prompt,
            AdapterId = adapter,
            Sampling = new SamplingOptions { MaxTokens = maxTokens, Temperature = temperature, Logprobs = logprobs },
        };
        if (seed is { } s) r.Sampling.Seed = s;
        return r;
    }

    [Fact]
    public async Task Generate_on_base_model_returns_tokens_text_and_counts()
    {
        var reply = await _server.Inference.GenerateAsync(Request("hello world", maxTokens: 10, logprobs: true));

        Assert.InRange(reply.TokenIds.Count, 1, 10);
        Assert.Equal(reply.TokenIds.Count, reply.Usage.CompletionTokens);
        Assert.True(reply.Usage.PromptTokens > 0);
        Assert.Equal(reply.TokenIds.Count, reply.Logprobs.Count);
        Assert.All(reply.Logprobs, lp => Assert.True(lp <= 0 && float.IsFinite(lp)));
        Assert.Contains(reply.FinishReason, new[] { FinishReason.Length, FinishReason.Eos });
        if (reply.FinishReason == FinishReason.Length) Assert.Equal(10, reply.TokenIds.Count);
    }

    [Fact]
    public async Task Generate_without_logprobs_flag_returns_none()
    {
        var reply = await _server.Inference.GenerateAsync(Request("hello", maxTokens: 4));
        Assert.Empty(reply.Logprobs);
    }

    [Fact]
    public async Task Generate_accepts_token_id_prompts()
    {
        var request = new GenerateRequest { Tokens = new TokenIds(), Sampling = new SamplingOptions { MaxTokens = 5, Temperature = 0 } };
        request.Tokens.Ids.AddRange([5, 17, 42, 99]);
        var reply = await _server.Inference.GenerateAsync(request);
        Assert.Equal(4, reply.Usage.PromptTokens);
        Assert.NotEmpty(reply.TokenIds);
    }

    [Fact]
    public async Task Adapter_changes_the_output_and_the_same_seed_repeats_it()
    {
        var baseReply = await _server.Inference.GenerateAsync(Request("the cat sat", maxTokens: 16, temperature: 0));
        var adapterReply = await _server.Inference.GenerateAsync(Request("the cat sat", "demo-r16", maxTokens: 16, temperature: 0));
        var again = await _server.Inference.GenerateAsync(Request("the cat sat", "demo-r16", maxTokens: 16, temperature: 0));

        Assert.NotEqual(baseReply.TokenIds, adapterReply.TokenIds);
        Assert.Equal(adapterReply.TokenIds, again.TokenIds);
        Assert.Equal("demo-r16", adapterReply.AdapterId);
    }

    [Fact]
    public async Task Stream_sends_pieces_whose_concatenation_equals_the_unary_reply()
    {
        var request = Request("once upon a time", "demo-r8", maxTokens: 20, seed: 11);
        var unary = await _server.Inference.GenerateAsync(request);

        using var call = _server.Inference.GenerateStream(request);
        var messages = new List<GenerateStreamResponse>();
        await foreach (var m in call.ResponseStream.ReadAllAsync()) messages.Add(m);

        Assert.True(messages.Count >= 2);
        Assert.All(messages[..^1], m => Assert.Equal(FinishReason.Unspecified, m.FinishReason));
        var last = messages[^1];
        Assert.Equal(unary.FinishReason, last.FinishReason);
        Assert.Equal(unary.Usage.CompletionTokens, last.Usage.CompletionTokens);
        Assert.Equal(unary.Text, string.Concat(messages.Select(m => m.Text)));
        Assert.Equal(unary.TokenIds, messages.SelectMany(m => m.TokenIds));
    }

    [Fact]
    public async Task Stop_token_ids_end_generation_on_the_first_of_them()
    {
        var free = await _server.Inference.GenerateAsync(Request("abc", maxTokens: 20, temperature: 0));
        Assert.True(free.TokenIds.Count >= 4, $"model output too short for the test: {free.TokenIds.Count} tokens");
        int stopId = free.TokenIds[3];
        int first = free.TokenIds.IndexOf(stopId);

        var request = Request("abc", maxTokens: 20, temperature: 0);
        request.Sampling.StopTokenIds.Add(stopId);
        var stopped = await _server.Inference.GenerateAsync(request);

        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
        Assert.Equal(free.TokenIds.Take(first + 1), stopped.TokenIds);

        var bad = Request("abc");
        bad.Sampling.StopTokenIds.Add(1_000_000);
        var ex = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(() => _server.Inference.GenerateAsync(bad).ResponseAsync);
        Assert.Equal(global::Grpc.Core.StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("stop token id", ex.Status.Detail);
    }

    /// <summary>gRPC min_tokens (vLLM's): a one-token stop id that ends the free run cannot be sampled before it; above max_tokens is refused.</summary>
    [Fact]
    public async Task Min_tokens_keeps_eos_and_stop_ids_from_ending_generation_early()
    {
        var free = await _server.Inference.GenerateAsync(Request("abc", maxTokens: 20, temperature: 0));
        Assert.True(free.TokenIds.Count >= 2, $"model output too short for the test: {free.TokenIds.Count} tokens");
        int stopId = free.TokenIds[1];
        var early = Request("abc", maxTokens: 20, temperature: 0);
        early.Sampling.StopTokenIds.Add(stopId);
        Assert.Equal(FinishReason.Stop, (await _server.Inference.GenerateAsync(early)).FinishReason);   // without min_tokens it stops

        var held = Request("abc", maxTokens: 20, temperature: 0);
        held.Sampling.StopTokenIds.Add(stopId);
        held.Sampling.MinTokens = 20;
        var reply = await _server.Inference.GenerateAsync(held);
        Assert.Equal(20, reply.TokenIds.Count);
        Assert.Equal(FinishReason.Length, reply.FinishReason);
        Assert.DoesNotContain(stopId, reply.TokenIds);

        var bad = Request("abc", maxTokens: 20);
        bad.Sampling.MinTokens = 21;
        var ex = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(() => _server.Inference.GenerateAsync(bad).ResponseAsync);
        Assert.Equal(global::Grpc.Core.StatusCode.InvalidArgument, ex.StatusCode);
        Assert.Contains("min_tokens 21", ex.Status.Detail);
    }

    [Fact]
    public async Task Stop_string_ends_generation_before_it()
    {
        var free = await _server.Inference.GenerateAsync(Request("abc", maxTokens: 30, temperature: 0));
        // Pick a stop string from the middle of what the model says anyway, so it must be hit.
        var text = free.Text;
        Assert.True(text.Length >= 4, $"model text too short for the test: '{text}'");
        int from = Enumerable.Range(text.Length / 2, text.Length - text.Length / 2 - 1)
            .First(i => text[i] != '\uFFFD' && text[i + 1] != '\uFFFD');
        var stop = text.Substring(from, 2);
        int cut = text.IndexOf(stop, StringComparison.Ordinal);

        var request = Request("abc", maxTokens: 30, temperature: 0);
        request.Sampling.Stop.Add(stop);
        var stopped = await _server.Inference.GenerateAsync(request);

        Assert.Equal(FinishReason.Stop, stopped.FinishReason);
        Assert.Equal(text[..cut], stopped.Text);
    }

    [Fact]
    public async Task Concurrent_mixed_adapter_requests_equal_the_same_requests_run_alone()
    {
        string[] adapters = ["", "demo-r4", "demo-r8", "demo-r16"];
        var requests = Enumerable.Range(0, 12)
            .Select(i => Request($"prompt number {i}", adapters[i % adapters.Length], maxTokens: 10 + i % 5, seed: (ulong)(100 + i)))
            .ToList();

        var alone = new List<GenerateResponse>();
        foreach (var r in requests) alone.Add(await _server.Inference.GenerateAsync(r));

        var together = await Task.WhenAll(requests.Select(r => _server.Inference.GenerateAsync(r).ResponseAsync));

        for (int i = 0; i < requests.Count; i++)
        {
            Assert.Equal(alone[i].TokenIds, together[i].TokenIds);
            Assert.Equal(alone[i].Text, together[i].Text);
        }
        // The concurrent run really shared steps: some step ran more than one sequence.
        var metrics = await MetricsText.ReadAsync(_server);
        Assert.True(MetricsText.HistogramCountAbove(metrics, "lorasqueeze_batch_size", 1) > 0, "no step batched more than one sequence");
    }

    [Fact]
    public async Task Top_k_reaches_the_sampler()
    {
        const string prompt = "the quick brown fox";
        var greedy = await _server.Inference.GenerateAsync(Request(prompt, maxTokens: 16, temperature: 0));
        ulong[] seeds = [1, 2, 3, 4];
        foreach (var seed in seeds)
        {
            // top_k = 1 leaves only the arg-max, so a hot temperature samples the greedy tokens anyway.
            var request = Request(prompt, maxTokens: 16, seed: seed, temperature: 1.5f);
            request.Sampling.TopK = 1;
            Assert.Equal(greedy.TokenIds, (await _server.Inference.GenerateAsync(request)).TokenIds);
        }
        // Without top_k the same seeds leave the greedy path: it was top_k that kept them on it.
        var free = await Task.WhenAll(seeds.Select(seed =>
            _server.Inference.GenerateAsync(Request(prompt, maxTokens: 16, seed: seed, temperature: 1.5f)).ResponseAsync));
        Assert.Contains(free, f => !f.TokenIds.SequenceEqual(greedy.TokenIds));
    }

    [Fact]
    public async Task Repetition_penalty_reaches_the_sampler()
    {
        const string prompt = "hello hello hello hello";
        var plain = await _server.Inference.GenerateAsync(Request(prompt, maxTokens: 32, temperature: 0));
        // Greedy decoding of this model on this prompt repeats tokens...
        Assert.True(plain.TokenIds.Distinct().Count() < plain.TokenIds.Count, "greedy output has no repeats to penalise");

        var request = Request(prompt, maxTokens: 32, temperature: 0);
        request.Sampling.RepetitionPenalty = 1000;
        var penalised = await _server.Inference.GenerateAsync(request);
        // ...and a huge penalty makes every seen token (prompt or generated) lose to an unseen one.
        Assert.NotEqual(plain.TokenIds, penalised.TokenIds);
        Assert.Equal(penalised.TokenIds.Count, penalised.TokenIds.Distinct().Count());
    }
}
