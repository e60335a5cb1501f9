using System.Text.Json;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Server.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraSqueeze.Server.OpenAi;

/// <summary>
/// <c>POST /v1/completions</c>: <c>prompt</c> as a string, a list of strings, token ids or lists of token ids; <c>n</c>
/// choices per prompt (choice index = prompt · n + i, as vLLM numbers them), <c>echo</c>, <c>logprobs</c> (0..5),
/// unary or streamed. Every choice is its own engine request, so they batch with everything else running.
/// </summary>
internal sealed class CompletionsEndpoint(GenerationGateway gateway, ServedModels models, PathRedactor paths)
{
    /// <summary>OpenAI's default max_tokens for completions.</summary>
    private const int DefaultMaxTokens = 16;
    private const int MaxLogprobs = 5;

    public async Task HandleAsync(HttpContext http, OpenAiRequestBody body, CancellationToken cancellationToken)
    {
        string model = body.RequiredString("model");
        string? adapter = models.AdapterFor(model);
        var codec = gateway.Codec;
        var prompts = ParsePrompts(body, codec);
        var fields = OpenAiSampling.Parse(body, gateway.Limits, DefaultMaxTokens);
        int? logprobs = body.OptionalInt("logprobs", 0, MaxLogprobs);
        bool echo = body.OptionalBool("echo") ?? false;
        if (body.OptionalString("suffix") is { Length: > 0 }) throw new InvalidRequestException("suffix", "'suffix' (insertion) is not supported by this server");
        var requests = prompts.SelectMany(prompt => fields.Choices(prompt, adapter, s => s with
        {
            Logprobs = logprobs is not null,
            TopLogprobs = logprobs ?? 0,
            PromptLogprobs = echo && logprobs is not null,
        })).ToList();

        string id = "cmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await gateway.RunAllAsync(requests, generations => fields.Stream
            ? StreamAsync(http, generations, id, created, model, logprobs, echo, fields.IncludeUsage, cancellationToken)
            : UnaryAsync(http, generations, id, created, model, logprobs, echo, cancellationToken), cancellationToken);
    }

    private async Task UnaryAsync(HttpContext http, List<Generation> generations, string id, long created, string model,
        int? logprobs, bool echo, CancellationToken cancellationToken)
    {
        await Task.WhenAll(generations.Select(g => g.RunAsync((_, _) => Task.CompletedTask, cancellationToken)));
        var codec = gateway.Codec;
        var choices = new List<CompletionChoice>(generations.Count);
        for (int i = 0; i < generations.Count; i++)
        {
            var g = generations[i];
            string prefix = echo ? codec.Decode(g.Request.PromptTokens) : "";
            CompletionLogprobs? lp = null;
            if (logprobs is int k)
            {
                int offset = 0;
                lp = LogprobFormatting.Completion(codec, g.Events, k, ref offset, echo ? g.Request.PromptTokens : null, g.PromptLogprobs);
            }
            choices.Add(new CompletionChoice(i, prefix + g.Text.Text, lp, g.Finish.ToOpenAi()));
        }
        var usage = new UsageInfo(generations.Sum(g => g.Request.PromptTokens.Length), generations.Sum(g => g.CompletionTokens));
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, new CompletionResponse(id, "text_completion", created, model, choices, usage),
            OpenAiJson.Options, cancellationToken);
    }

    private async Task StreamAsync(HttpContext http, List<Generation> generations, string id, long created, string model,
        int? logprobs, bool echo, bool includeUsage, CancellationToken cancellationToken)
    {
        using var sse = new ServerSentEvents(http.Response);
        await sse.StartAsync(cancellationToken);
        var codec = gateway.Codec;
        CompletionResponse Chunk(int index, string text, CompletionLogprobs? lp, string? finish) =>
            new(id, "text_completion", created, model, [new CompletionChoice(index, text, lp, finish)], null);
        try
        {
            await Task.WhenAll(generations.Select(async (g, index) =>
            {
                int offset = 0;
                if (echo)
                {
                    // The prompt comes first, as its own chunk (with its logprobs once the first token brings them).
                    await sse.SendAsync(Chunk(index, codec.Decode(g.Request.PromptTokens), null, null), cancellationToken);
                }
                bool first = true;
                // The logprobs of a chunk's tokens; with echo, the first chunk's begin with the prompt's.
                CompletionLogprobs? Logprobs(IReadOnlyList<TokenEvent> events)
                {
                    if (logprobs is not int k) return null;
                    bool withPrompt = echo && first;
                    first = false;
                    return LogprobFormatting.Completion(codec, events, k, ref offset,
                        withPrompt ? g.Request.PromptTokens : null, withPrompt ? g.PromptLogprobs : null);
                }
                await g.RunAsync((piece, events) => sse.SendAsync(Chunk(index, piece, Logprobs(events), null), cancellationToken), cancellationToken);
                var tail = g.TailEvents.Count > 0 || first ? Logprobs(g.TailEvents) : null;
                await sse.SendAsync(Chunk(index, g.Tail, tail, g.Finish.ToOpenAi()), cancellationToken);
            }));
            if (includeUsage)
            {
                var usage = new UsageInfo(generations.Sum(g => g.Request.PromptTokens.Length), generations.Sum(g => g.CompletionTokens));
                await sse.SendAsync(new CompletionResponse(id, "text_completion", created, model, [], usage), cancellationToken);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException && sse.Started)
        {
            // The status line is gone: the error travels as an event, as OpenAI streams it.
            await sse.SendErrorAsync(OpenAiError.From(ex, paths), cancellationToken);
        }
        await sse.DoneAsync(cancellationToken);
    }

    /// <summary><c>prompt</c>: a string, a list of strings, a list of token ids, or a list of lists of token ids.</summary>
    private static List<int[]> ParsePrompts(OpenAiRequestBody body, Engine.Text.ITextCodec codec)
    {
        var prompt = body.Get("prompt") ?? throw new InvalidRequestException("prompt", "'prompt' is required");
        int[] Text(string s) => s.Length == 0 ? throw new InvalidRequestException("prompt", "'prompt' must not be empty") : codec.Encode(s);
        switch (prompt.ValueKind)
        {
            case JsonValueKind.String:
                return [Text(prompt.GetString()!)];
            case JsonValueKind.Array when prompt.GetArrayLength() == 0:
                throw new InvalidRequestException("prompt", "'prompt' must not be empty");
            case JsonValueKind.Array:
            {
                var first = prompt[0];
                if (first.ValueKind == JsonValueKind.Number) return [OpenAiRequestBody.TokenIds(prompt, "prompt")];
                var list = new List<int[]>();
                foreach (var e in prompt.EnumerateArray())
                {
                    list.Add(e.ValueKind switch
                    {
                        JsonValueKind.String => Text(e.GetString()!),
                        JsonValueKind.Array when e.GetArrayLength() > 0 => OpenAiRequestBody.TokenIds(e, "prompt"),
                        _ => throw new InvalidRequestException("prompt", "'prompt' must be a string, a list of strings, token ids, or lists of token ids"),
                    });
                }
                if (list.Count > 64) throw new InvalidRequestException("prompt", $"'prompt' holds {list.Count} prompts; at most 64");
                return list;
            }
            default:
                throw new InvalidRequestException("prompt", "'prompt' must be a string, a list of strings, token ids, or lists of token ids");
        }
    }
}
