using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoraSqueeze.Server.OpenAi;

// The response bodies of the OpenAI API as this server writes them (platform.openai.com/docs/api-reference; vLLM's
// protocol.py for the fields it adds: root, parent, max_model_len). Property names are snake_case on the wire.

internal static class OpenAiJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        // JSON-safe without HTML escaping, so text stays readable and "model":"<id>" stays byte-comparable for gateways.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };
}

internal sealed record UsageInfo(int PromptTokens, int CompletionTokens)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

internal sealed record ModelCard(string Id, long Created, string OwnedBy, string Root, string? Parent, int? MaxModelLen)
{
    public string Object => "model";
}

internal sealed record ModelList(List<ModelCard> Data)
{
    public string Object => "list";
}

/// <summary>Legacy completions' logprobs: parallel lists, one entry per token (the first prompt token has none).</summary>
internal sealed record CompletionLogprobs(List<string> Tokens, List<float?> TokenLogprobs, List<Dictionary<string, float>?> TopLogprobs, List<int> TextOffset);

internal sealed record CompletionChoice(int Index, string Text, CompletionLogprobs? Logprobs, string? FinishReason);

internal sealed record CompletionResponse(string Id, string Object, long Created, string Model, List<CompletionChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] UsageInfo? Usage);

internal sealed record ChatTopLogprob(string Token, float Logprob, List<int> Bytes);

internal sealed record ChatTokenLogprob(string Token, float Logprob, List<int> Bytes, List<ChatTopLogprob> TopLogprobs);

internal sealed record ChatLogprobs(List<ChatTokenLogprob> Content);

internal sealed record ChatMessage(string Role, string Content);

internal sealed record ChatChoice(int Index, ChatMessage Message, ChatLogprobs? Logprobs, string? FinishReason);

internal sealed record ChatResponse(string Id, long Created, string Model, List<ChatChoice> Choices, UsageInfo Usage)
{
    public string Object => "chat.completion";
}

internal sealed record ChatDelta(
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Role,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] string? Content);

internal sealed record ChatChunkChoice(int Index, ChatDelta Delta, ChatLogprobs? Logprobs, string? FinishReason);

internal sealed record ChatChunk(string Id, long Created, string Model, List<ChatChunkChoice> Choices,
    [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] UsageInfo? Usage)
{
    public string Object => "chat.completion.chunk";
}
