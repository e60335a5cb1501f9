using System.Net;
using Grpc.HealthCheck;
using LoraSqueeze.Server.Serving;
using LoraSqueeze.Core.Units;
using LoraSqueeze.Engine;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Engine.Metrics;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Protos.V1;
using LoraSqueeze.Server.Grpc;
using LoraSqueeze.Server.OpenAi;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Prometheus;

namespace LoraSqueeze.Server.Hosting;

/// <summary>
/// Composition root: Kestrel on two ports (gRPC over HTTP/2, /metrics over HTTP/1.1), the gRPC services with
/// health and reflection, the engine thread with its mailbox, and the adapter manager (docs/architecture.md).
/// </summary>
public static class LoraSqueezeServer
{
    public static WebApplication Build(ServerOptions options, ServerBackends backends, Action<ILoggingBuilder>? logging = null)
    {
        options.Validate();
        options.ResolveAdminToken();
        if (options.HostCacheBytes > 0 && options.HostCacheBytes < backends.MinAdapterBytes)
        {
            throw new ArgumentException($"Server:HostCacheBytes {ByteSize.Format(options.HostCacheBytes)} holds no adapter: the smallest one at " +
                $"rank {options.TargetRank} on this model takes {ByteSize.Format(backends.MinAdapterBytes)} (use 0 for no host tier)");
        }
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            Args = [],
            ContentRootPath = AppContext.BaseDirectory,
        });
        if (logging is not null) logging(builder.Logging);
        // One line when ready (ServerLog.Ready) instead of the host's several start-up lines.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc", LogLevel.Warning);
        // "Hosting failed to start" logs the start-up exception with its stack trace; StartAsync rethrows that same
        // exception to the caller (the CLI prints it as one error line), so the host's copy is dropped.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.Critical);

        var endpoints = new ServerEndpoints();
        var address = ParseAddress(options.BindAddress);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Listen(address, options.Port, listen =>
            {
                listen.Protocols = HttpProtocols.Http2;
                endpoints.GrpcSource = () => listen.IPEndPoint!;
            });
            kestrel.Listen(address, options.MetricsPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                endpoints.MetricsSource = () => listen.IPEndPoint!;
            });
            kestrel.Listen(address, options.HttpPort, listen =>
            {
                listen.Protocols = HttpProtocols.Http1;
                endpoints.HttpSource = () => listen.IPEndPoint!;
            });
        });

        var services = builder.Services;
        // The whole stop (the engine's drain, then Kestrel) fits in the drain time plus a margin for Kestrel itself.
        services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownDrainSeconds + 5));
        services.AddSingleton(options);
        services.AddSingleton(endpoints);
        services.AddSingleton(backends.Codec);
        services.AddSingleton(backends.Loader);
        services.AddSingleton(new EngineMetrics(Prometheus.Metrics.NewCustomRegistry()));
        services.AddSingleton(new EngineMailbox());
        services.AddSingleton(new AdapterManagerOptions
        {
            TargetRank = options.TargetRank,
            HostCacheBytes = options.HostCacheBytes,
            MaxConcurrentLoads = options.MaxConcurrentLoads,
            MinRetainedEnergy = options.MinRetainedEnergy,
        });
        services.AddSingleton(new EngineOptions
        {
            Scheduler = backends.Scheduler,
            Limits = new RequestLimits
            {
                VocabSize = backends.Codec.VocabSize,
                // Clamped to the model's context: a longer prompt is refused at the door, before its adapter is loaded.
                MaxPromptTokens = Math.Min(options.MaxPromptTokens, backends.Scheduler.MaxSequenceLength - 1),
                MaxTokens = options.MaxTokens,
                MaxSequenceLength = backends.Scheduler.MaxSequenceLength,
            },
            QueueLength = options.QueueLength,
            WarmupSteps = options.WarmupSteps,
        });
        services.AddSingleton(sp => new InferenceEngine(backends.CreateRunner, sp.GetRequiredService<EngineOptions>(),
            sp.GetRequiredService<AdapterManager>(), sp.GetRequiredService<EngineMailbox>(),
            sp.GetRequiredService<EngineMetrics>(), sp.GetRequiredService<ILogger<InferenceEngine>>()));
        services.AddSingleton(sp => new AdapterPathResolver(options.AdapterRoots));
        services.AddSingleton<AdapterManager>();
        services.AddSingleton<AdminAuthorization>();
        services.AddSingleton<GenerationGateway>();
        services.AddSingleton<ServedModels>();
        services.AddSingleton(sp => new ChatTemplateCatalog(backends.ChatTemplate, sp.GetRequiredService<AdapterManager>()));
        services.AddSingleton<CompletionsEndpoint>();
        services.AddSingleton<ChatCompletionsEndpoint>();
        services.AddSingleton<ModelsEndpoint>();
        services.AddSingleton<LoraAdapterEndpoints>();
        services.AddSingleton<PathRedactor>();
        services.AddHostedService<EngineHostedService>();
        services.AddHostedService<AdapterPreloadService>(); // after the engine: its start waits for the model
        services.AddGrpc(grpc =>
        {
            grpc.Interceptors.Add<MetricsInterceptor>();
            grpc.Interceptors.Add<ErrorMappingInterceptor>();
        });
        services.AddGrpcReflection();
        // grpc.health.v1 answers for the whole server ("") and for each service by name, as Kubernetes gRPC probes and
        // grpc_health_probe -service=… ask; every service serves once the engine's model is loaded.
        services.AddGrpcHealthChecks(health =>
            {
                foreach (var name in (string[])["", Inference.Descriptor.FullName, Protos.V1.Adapters.Descriptor.FullName])
                    health.Services.Map(name, result => result.Name == "engine");
            })
            .AddCheck<EngineHealthCheck>("engine");

        var app = builder.Build();
        app.UseMiddleware<RequestDecodingCheck>();   // undecodable requests → INVALID_ARGUMENT, before gRPC's UNKNOWN
        app.MapGrpcService<InferenceService>();
        app.MapGrpcService<AdaptersService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapOpenAi(endpoints);
        var registry = app.Services.GetRequiredService<EngineMetrics>().Registry;
        app.MapGet("/metrics", async context =>
        {
            // On the metrics port and the HTTP API's (gateways scrape the serving port), never on gRPC's.
            if (context.Connection.LocalPort != endpoints.Metrics.Port && context.Connection.LocalPort != endpoints.Http.Port)
            {
                context.Response.StatusCode = StatusCodes.Status404NotFound;
                return;
            }
            context.Response.ContentType = PrometheusConstants.ExporterContentTypeValue.ToString();
            await registry.CollectAndExportAsTextAsync(context.Response.Body, context.RequestAborted);
        });

        var log = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("LoraSqueeze.Server");
        app.Lifetime.ApplicationStarted.Register(() => ServerLog.Ready(log, options.ModelPath, options.Device, options.ResolvedServedModelName,
            endpoints.GrpcUri.ToString().TrimEnd('/'), endpoints.OpenAiBaseUri.ToString(), endpoints.MetricsUri.GetLeftPart(UriPartial.Authority), options.TargetRank,
            options.Slots, ByteSize.Format(options.HostCacheBytes),
            options.AdapterRoots.Count == 0 ? "none: no adapter can be served; pass --adapters DIR" : string.Join(", ", options.AdapterRoots),
            options.LoraLayout.ToString().ToLowerInvariant(), options.SlotDType.ToLowerInvariant(), options.WeightDType.ToLowerInvariant() + (options.Int8Activations ? " with int8 activations" : ""), options.LoraKernel.ToString().ToLowerInvariant(),
            options.AdminToken.Length > 0 ? "set" : "not set (Load/Unload open to every caller)"));
        return app;
    }

    private static IPAddress ParseAddress(string text) =>
        text is "localhost" or "" ? IPAddress.Loopback
        : text is "*" or "any" ? IPAddress.Any
        : IPAddress.Parse(text);
}
