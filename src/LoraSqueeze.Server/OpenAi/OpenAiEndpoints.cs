using System.Diagnostics;
using LoraSqueeze.Engine;
using LoraSqueeze.Engine.Metrics;
using LoraSqueeze.Server.Hosting;
using LoraSqueeze.Server.Serving;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace LoraSqueeze.Server.OpenAi;

/// <summary>
/// The OpenAI-compatible HTTP door (docs/server.md "OpenAI-compatible HTTP API"), on its own HTTP/1.1 port: routes,
/// the one error handler (every failure answers OpenAI's error shape with its status), request metrics (method = the
/// route, status = the HTTP status) and a client disconnect that cancels the generation at once (the request's
/// aborted token reaches the engine through <see cref="Generation.RunAsync"/>).
/// </summary>
internal static class OpenAiEndpoints
{
    public static void MapOpenAi(this WebApplication app, ServerEndpoints endpoints)
    {
        var api = app.MapGroup("").AddEndpointFilter(async (context, next) =>
        {
            // Only on the HTTP port: the gRPC and metrics listeners answer 404 for these paths.
            if (context.HttpContext.Connection.LocalPort != endpoints.Http.Port) return Results.NotFound();
            return await next(context);
        });
        api.MapGet("/v1/models", http => Run(http, "/v1/models", (sp, ct) => sp.GetRequiredService<ModelsEndpoint>().HandleAsync(http, ct)));
        MapJsonPost(api, "/v1/completions", (sp, http, body, ct) => sp.GetRequiredService<CompletionsEndpoint>().HandleAsync(http, body, ct));
        MapJsonPost(api, "/v1/chat/completions", (sp, http, body, ct) => sp.GetRequiredService<ChatCompletionsEndpoint>().HandleAsync(http, body, ct));
        MapJsonPost(api, "/v1/load_lora_adapter", (sp, http, body, ct) => sp.GetRequiredService<LoraAdapterEndpoints>().LoadAsync(http, body, ct));
        MapJsonPost(api, "/v1/unload_lora_adapter", (sp, http, body, ct) => sp.GetRequiredService<LoraAdapterEndpoints>().UnloadAsync(http, body, ct));
        // Readiness for load balancers and Kubernetes: 200 once the model is loaded and warmed up, 503 before (and after a failed load).
        api.MapGet("/health", http =>
        {
            var engine = http.RequestServices.GetRequiredService<InferenceEngine>();
            bool ready = engine.Ready.IsCompletedSuccessfully && !engine.Stopping;
            http.Response.StatusCode = ready ? StatusCodes.Status200OK : StatusCodes.Status503ServiceUnavailable;
            http.Response.ContentType = "text/plain; charset=utf-8";
            return http.Response.WriteAsync(ready ? "ok" : engine.Ready.IsFaulted ? "model failed to load" : engine.Stopping ? "shutting down" : engine.WarmingUp ? "warming up" : "model loading");
        });
    }

    /// <summary>A POST route whose JSON body is read with the size cap and parsed once before the handler runs.</summary>
    private static void MapJsonPost(RouteGroupBuilder api, string route, Func<IServiceProvider, HttpContext, OpenAiRequestBody, CancellationToken, Task> handler) =>
        api.MapPost(route, http => Run(http, route, async (sp, ct) =>
        {
            var (body, doc) = await OpenAiRequestBody.ReadAsync(http.Request, ct);
            using (doc) await handler(sp, http, body, ct);
        }));

    private static async Task Run(HttpContext http, string route, Func<IServiceProvider, CancellationToken, Task> handler)
    {
        var watch = Stopwatch.StartNew();
        var sp = http.RequestServices;
        var ct = http.RequestAborted;
        int status;
        try
        {
            await handler(sp, ct);
            status = http.Response.StatusCode;
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            status = 499;   // client closed the request (nginx's convention); nothing can be written back
        }
        catch (Exception ex)
        {
            var error = OpenAiError.From(ex, sp.GetRequiredService<PathRedactor>());
            status = error.Status;
            if (!http.Response.HasStarted) await error.WriteAsync(http.Response);
        }
        var metrics = sp.GetRequiredService<EngineMetrics>();
        metrics.Requests.WithLabels(route, status.ToString(System.Globalization.CultureInfo.InvariantCulture)).Inc();
        metrics.RequestDuration.WithLabels(route).Observe(watch.Elapsed.TotalSeconds);
    }
}
