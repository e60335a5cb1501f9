using Grpc.Net.Client;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Engine.Execution;
using LoraSqueeze.Protos.V1;
using LoraSqueeze.Server.Hosting;
using LoraSqueeze.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// A real server in this process on loopback ports, serving the generated demo model (a tiny random model written by
/// the Testing project's TinyAssets) and demo adapters. Each test server gets its own copy of the adapter root so
/// tests may add broken or extra adapters.
/// </summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private TestServer(WebApplication app, ServerOptions options, string adapterRoot)
    {
        _app = app;
        Options = options;
        AdapterRoot = adapterRoot;
        Endpoints = (ServerEndpoints)app.Services.GetService(typeof(ServerEndpoints))!;
        Channel = GrpcChannel.ForAddress(Endpoints.GrpcUri);
        Inference = new Inference.InferenceClient(Channel);
        Adapters = new Protos.V1.Adapters.AdaptersClient(Channel);
    }

    public ServerOptions Options { get; }
    public string AdapterRoot { get; }
    public ServerEndpoints Endpoints { get; }
    public GrpcChannel Channel { get; }
    public Inference.InferenceClient Inference { get; }
    public Protos.V1.Adapters.AdaptersClient Adapters { get; }
    public IServiceProvider Services => _app.Services;

    /// <summary>The OpenAI base URL (<c>http://127.0.0.1:PORT/v1</c>).</summary>
    public Uri OpenAiBaseUri => Endpoints.OpenAiBaseUri;

    /// <summary>The base model's name in the OpenAI API.</summary>
    public string ServedModel => Options.ResolvedServedModelName;

    /// <param name="configure">Changes to the test defaults.</param>
    /// <param name="wrapModel">Wraps the real model runner the engine thread creates (to slow its steps or watch its batch).</param>
    /// <param name="wrapLoader">Wraps the real adapter loader (to hold a load open while a test races it).</param>
    /// <param name="logs">Also receives the server's log at Information level (for tests about what it logs).</param>
    public static async Task<TestServer> StartAsync(Action<ServerOptions>? configure = null,
        Func<IModelRunner, IModelRunner>? wrapModel = null, Func<IAdapterLoader, IAdapterLoader>? wrapLoader = null,
        ILoggerProvider? logs = null)
    {
        var demo = DemoFixture.Assets;
        var root = Path.Combine(Path.GetTempPath(), "lsq-srv-" + Guid.NewGuid().ToString("N")[..8]);
        CopyDirectory(demo.AdapterRoot, root);
        var options = new ServerOptions
        {
            ModelPath = demo.ModelDir,
            TargetRank = DemoAssets.TargetRank,
            Slots = 3,
            HostCacheBytes = 64L << 20,
            MaxBatch = 8,
            QueueLength = 64,
            MaxPromptTokens = 128,
            MaxTokens = 64,
            AdapterRoots = [root],
            Port = 0,
            MetricsPort = 0,
            HttpPort = 0,
            TorchThreads = 1,
            // A test that ends with requests still running should not wait the default 30 s drain at dispose.
            ShutdownDrainSeconds = 5,
        };
        configure?.Invoke(options);
        var backends = ServerBackends.ForModel(options);
        if (wrapModel is not null)
        {
            var create = backends.CreateRunner;
            backends = backends with { CreateRunner = () => wrapModel(create()) };
        }
        if (wrapLoader is not null) backends = backends with { Loader = wrapLoader(backends.Loader) };
        var app = LoraSqueezeServer.Build(options, backends, logging =>
        {
            logging.SetMinimumLevel(logs is null ? LogLevel.Warning : LogLevel.Information);
            if (logs is not null)
            {
                logging.ClearProviders();
                logging.AddProvider(logs);
            }
        });
        await app.StartAsync();
        return new TestServer(app, options, root);
    }

    /// <summary>Stops the host as SIGTERM does (the engine drains first); dispose afterwards as usual.</summary>
    public Task StopAsync() => _app.StopAsync();

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(AdapterRoot, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind does not affect other tests.
        }
    }

    internal static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        foreach (var dir in Directory.GetDirectories(from)) CopyDirectory(dir, Path.Combine(to, Path.GetFileName(dir)));
    }
}
