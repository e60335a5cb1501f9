using System.Text.Json;
using LoraSqueeze.Core.Templating;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Server.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraSqueeze.Server.OpenAi;

/// <summary>
/// <c>POST /v1/chat/completions</c>: <c>messages</c> rendered with the chat template (the adapter's own when it has one,
/// else the base model's; <see cref="ChatTemplateCatalog"/>), tokenized without added special tokens (the template
/// writes BOS), then generated like any request. <c>logprobs</c> (bool) with <c>top_logprobs</c> (0..20); streamed
/// deltas send the role first, then content, then the finish reason; <c>stream_options.include_usage</c> adds a last
/// chunk with usage and no choices. vLLM's <c>add_generation_prompt</c> (default true) and <c>chat_template_kwargs</c>
/// (extra template variables, e.g. <c>enable_thinking</c>) are accepted; <c>tools</c> reach the template as given.
/// </summary>
internal sealed class ChatCompletionsEndpoint(GenerationGateway gateway, ServedModels models, ChatTemplateCatalog templates, PathRedactor paths)
{
    public async Task HandleAsync(HttpContext http, OpenAiRequestBody body, CancellationToken cancellationToken)
    {
        string model = body.RequiredString("model");
        string? adapter = models.AdapterFor(model);
        var messages = ParseMessages(body);
        object? tools = body.Get("tools") is { } t ? JinjaJson.FromJson(t) : null;
        bool addGenerationPrompt = body.OptionalBool("add_generation_prompt") ?? true;
        // Structured output and forced tool calls would need constrained decoding and a tool-call parser, which this
        // server does not have: refused, not silently ignored. "auto" and "none" leave the model free, so they pass.
        if (body.Get("response_format") is { } format && (format.ValueKind != JsonValueKind.Object
            || !format.TryGetProperty("type", out var type) || type.GetString() != "text"))
            throw new InvalidRequestException("response_format", "only response_format {\"type\": \"text\"} is supported (no constrained decoding)");
        if (body.Get("tool_choice") is { } choice && !(choice.ValueKind == JsonValueKind.String && choice.GetString() is "auto" or "none"))
            throw new InvalidRequestException("tool_choice", "only tool_choice \"auto\" or \"none\" is supported (tool calls are not parsed out of the text)");
        Dictionary<string, object?>? extra = null;
        if (body.Get("chat_template_kwargs") is { } kw)
        {
            if (kw.ValueKind != JsonValueKind.Object) throw new InvalidRequestException("chat_template_kwargs", "'chat_template_kwargs' must be an object");
            extra = kw.EnumerateObject().ToDictionary(p => p.Name, p => JinjaJson.FromJson(p.Value), StringComparer.Ordinal);
        }
        var template = templates.For(adapter)
            ?? throw new InvalidRequestException("messages", $"the model '{model}' has no chat template (tokenizer_config.json chat_template); use /v1/completions");
        string text = template.Render(messages, addGenerationPrompt, tools, extra);
        int[] prompt = gateway.Codec.Encode(text, addSpecialTokens: false);
        if (prompt.Length == 0) throw new InvalidRequestException("messages", "the conversation renders to no tokens");

        var fields = OpenAiSampling.Parse(body, gateway.Limits, defaultMaxTokens: gateway.Limits.MaxTokens, maxTokensField: "max_completion_tokens");
        bool logprobs = body.OptionalBool("logprobs") ?? false;
        int top = body.OptionalInt("top_logprobs", 0, Model.Sampling.SamplingParams.MaxTopLogprobs) ?? 0;
        if (top > 0 && !logprobs) throw new InvalidRequestException("top_logprobs", "'top_logprobs' needs 'logprobs': true");
        var requests = fields.Choices(prompt, adapter, s => s with { Logprobs = logprobs, TopLogprobs = top }).ToList();

        string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        await gateway.RunAllAsync(requests, generations => fields.Stream
            ? StreamAsync(http, generations, id, created, model, logprobs, top, fields.IncludeUsage, cancellationToken)
            : UnaryAsync(http, generations, id, created, model, logprobs, top, cancellationToken), cancellationToken);
    }

    private async Task UnaryAsync(HttpContext http, List<Generation> generations, string id, long created, string model,
        bool logprobs, int top, CancellationToken cancellationToken)
    {
        await Task.WhenAll(generations.Select(g => g.RunAsync((_, _) => Task.CompletedTask, cancellationToken)));
        var choices = generations.Select((g, i) => new ChatChoice(i, new ChatMessage("assistant", g.Text.Text),
            logprobs ? LogprobFormatting.Chat(gateway.Codec, g.Events, top) : null, g.Finish.ToOpenAi())).ToList();
        var usage = new UsageInfo(generations[0].Request.PromptTokens.Length, generations.Sum(g => g.CompletionTokens));
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, new ChatResponse(id, created, model, choices, usage), OpenAiJson.Options, cancellationToken);
    }

    private async Task StreamAsync(HttpContext http, List<Generation> generations, string id, long created, string model,
        bool logprobs, int top, bool includeUsage, CancellationToken cancellationToken)
    {
        using var sse = new ServerSentEvents(http.Response);
        await sse.StartAsync(cancellationToken);
        var codec = gateway.Codec;
        ChatChunk Chunk(int index, ChatDelta delta, ChatLogprobs? lp, string? finish) => new(id, created, model, [new ChatChunkChoice(index, delta, lp, finish)], null);
        try
        {
            await Task.WhenAll(generations.Select(async (g, index) =>
            {
                await sse.SendAsync(Chunk(index, new ChatDelta("assistant", ""), null, null), cancellationToken);
                await g.RunAsync((piece, events) => sse.SendAsync(
                    Chunk(index, new ChatDelta(null, piece), logprobs ? LogprobFormatting.Chat(codec, events, top) : null, null), cancellationToken),
                    cancellationToken);
                var tail = logprobs && g.TailEvents.Count > 0 ? LogprobFormatting.Chat(codec, g.TailEvents, top) : null;
                await sse.SendAsync(Chunk(index, new ChatDelta(null, g.Tail.Length > 0 ? g.Tail : null), tail, g.Finish.ToOpenAi()), cancellationToken);
            }));
            if (includeUsage)
            {
                var usage = new UsageInfo(generations[0].Request.PromptTokens.Length, generations.Sum(g => g.CompletionTokens));
                await sse.SendAsync(new ChatChunk(id, created, model, [], usage), cancellationToken);
            }
        }
        catch (Exception ex) when (ex is not OperationCanceledException && sse.Started)
        {
            await sse.SendErrorAsync(OpenAiError.From(ex, paths), cancellationToken);
        }
        await sse.DoneAsync(cancellationToken);
    }

    /// <summary>
    /// <c>messages</c>: a non-empty list of objects with a string <c>role</c> and a <c>content</c> that is a string, null
    /// (assistant turns with tool calls), or a list of text parts (joined with newlines, as vLLM flattens them for
    /// string templates). Every other field of a message (tool_calls, name, …) reaches the template unchanged.
    /// </summary>
    private static List<object?> ParseMessages(OpenAiRequestBody body)
    {
        var m = body.Get("messages") ?? throw new InvalidRequestException("messages", "'messages' is required");
        if (m.ValueKind != JsonValueKind.Array || m.GetArrayLength() == 0)
            throw new InvalidRequestException("messages", "'messages' must be a non-empty list of messages");
        var list = new List<object?>();
        int i = 0;
        foreach (var e in m.EnumerateArray())
        {
            string where = $"messages[{i++}]";
            if (e.ValueKind != JsonValueKind.Object) throw new InvalidRequestException(where, $"'{where}' must be an object");
            if (!e.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String || role.GetString()!.Length == 0)
                throw new InvalidRequestException($"{where}.role", $"'{where}.role' must be a non-empty string");
            var message = (OrderedDictionary<string, object?>)JinjaJson.FromJson(e)!;
            if (e.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.Array)
                message["content"] = FlattenParts(content, $"{where}.content");
            else if (e.TryGetProperty("content", out content) && content.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
                throw new InvalidRequestException($"{where}.content", $"'{where}.content' must be a string, null or a list of text parts");
            list.Add(message);
        }
        return list;
    }

    private static string FlattenParts(JsonElement parts, string where)
    {
        var texts = new List<string>();
        foreach (var part in parts.EnumerateArray())
        {
            if (part.ValueKind == JsonValueKind.String)
            {
                texts.Add(part.GetString()!);
                continue;
            }
            if (part.ValueKind != JsonValueKind.Object || !part.TryGetProperty("type", out var type) || type.GetString() != "text"
                || !part.TryGetProperty("text", out var text) || text.ValueKind != JsonValueKind.String)
                throw new InvalidRequestException(where, $"'{where}' may hold only text parts ({{\"type\": \"text\", \"text\": ...}}): this server serves a text model");
            texts.Add(text.GetString()!);
        }
        return string.Join('\n', texts);
    }
}
