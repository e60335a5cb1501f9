using System.Text.Json;
using LoraSqueeze.Engine;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Server.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraSqueeze.Server.OpenAi;

/// <summary>
/// <c>GET /v1/models</c> in OpenAI's list shape: the base model, then every adapter the server knows (in memory or on
/// disk under the roots) with <c>parent</c> = the base's id, as vLLM lists LoRA modules (AIBrix checks <c>data[].id</c>).
/// </summary>
internal sealed class ModelsEndpoint(ServedModels models, AdapterManager adapters, InferenceEngine engine, PathRedactor paths)
{
    private readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();

    public async Task HandleAsync(HttpContext http, CancellationToken cancellationToken)
    {
        var data = new List<ModelCard> { new(models.BaseName, _created, "lorasqueeze", models.BaseName, null, engine.Limits.MaxSequenceLength) };
        foreach (var a in adapters.List().OrderBy(a => a.Id, StringComparer.Ordinal))
        {
            if (a.Id == models.BaseName) continue;   // the base's name wins (ServedModels)
            long created = a.LastUsed?.ToUnixTimeSeconds() ?? _created;
            data.Add(new ModelCard(a.Id, created, "lorasqueeze", paths.Redact(a.Source), models.BaseName, null));
        }
        http.Response.ContentType = "application/json";
        await JsonSerializer.SerializeAsync(http.Response.Body, new ModelList(data), OpenAiJson.Options, cancellationToken);
    }
}
