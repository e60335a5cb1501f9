using System.Text.Json;
using LoraSqueeze.Engine;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Server.Grpc;
using LoraSqueeze.Server.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraSqueeze.Server.OpenAi;

/// <summary>
/// Errors in OpenAI's shape, <c>{"error": {"message", "type", "param", "code"}}</c>, with the HTTP status the API
/// documents; the one place exceptions become statuses for the HTTP door (the gRPC door's is
/// <see cref="ErrorMappingInterceptor"/>, and the two agree: 400 ↔ INVALID_ARGUMENT, 401 ↔ UNAUTHENTICATED,
/// 403 ↔ PERMISSION_DENIED, 404 ↔ NOT_FOUND, 429 ↔ RESOURCE_EXHAUSTED, 503 ↔ UNAVAILABLE). Paths are redacted.
/// </summary>
internal sealed record OpenAiError(int Status, string Type, string Message, string? Param = null, string? Code = null)
{
    /// <summary>Readable messages (quotes and apostrophes unescaped), still valid JSON.</summary>
    internal static readonly JsonWriterOptions WriterOptions = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static OpenAiError From(Exception ex, PathRedactor paths)
    {
        var e = ex switch
        {
            InvalidRequestException r => new OpenAiError(400, "invalid_request_error", r.Message, r.Param),
            ChatTemplateException c => new OpenAiError(400, "invalid_request_error", $"the chat template refused the conversation: {c.Message}", "messages"),
            UnauthorizedException u => new OpenAiError(401, "authentication_error", u.Message, Code: "invalid_api_key"),
            AdapterPathException p => new OpenAiError(403, "permission_error", p.Message, "lora_path"),
            ModelNotFoundException m => new OpenAiError(404, "not_found_error", m.Message, "model", "model_not_found"),
            AdapterNotFoundException n => new OpenAiError(404, "not_found_error", n.Message, "model", "model_not_found"),
            PayloadTooLargeException t => new OpenAiError(413, "invalid_request_error", t.Message),
            AdapterLoadException l => new OpenAiError(400, "invalid_request_error", l.Message, "model", "adapter_load_failed"),
            NonFiniteOutputException f => new OpenAiError(422, "invalid_request_error", f.Message, "model", "non_finite_output"),
            QueueFullException q => new OpenAiError(429, "rate_limit_error", q.Message, Code: "queue_full"),
            EngineUnavailableException u => new OpenAiError(503, "service_unavailable", u.Message),
            ArgumentException a => new OpenAiError(400, "invalid_request_error", a.Message),
            InvalidOperationException o => new OpenAiError(400, "invalid_request_error", o.Message),
            _ => new OpenAiError(500, "server_error", ex.Message),
        };
        return e with { Message = paths.Redact(e.Message) };
    }

    /// <summary>The error object itself (also sent as an SSE event when a stream fails after it started).</summary>
    public void WriteTo(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteStartObject("error");
        w.WriteString("message", Message);
        w.WriteString("type", Type);
        if (Param is null) w.WriteNull("param");
        else w.WriteString("param", Param);
        if (Code is null) w.WriteNull("code");
        else w.WriteString("code", Code);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    public async Task WriteAsync(HttpResponse response)
    {
        response.StatusCode = Status;
        response.ContentType = "application/json";
        using var buffer = new MemoryStream();
        using (var w = new Utf8JsonWriter(buffer, WriterOptions)) WriteTo(w);
        await response.Body.WriteAsync(buffer.ToArray());
    }
}
