using LoraSqueeze.LoadTest.Running;
using LoraSqueeze.LoadTest.Workload;
using LoraSqueeze.Server.Hosting;
using LoraSqueeze.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace LoraSqueeze.LoadTest.Tests;

/// <summary>
/// A few seconds of load against a real server in this process on loopback ports (the generated demo model and its
/// three adapters), checking that the report's counts add up with each other and with the server's /metrics.
/// </summary>
public sealed class EndToEndTests : IAsyncLifetime
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "lsq-loadtest-e2e-" + Guid.NewGuid().ToString("N")[..8]);
    private WebApplication _app = null!;
    private ServerEndpoints _endpoints = null!;

    public async Task InitializeAsync()
    {
        var demo = DemoAssets.Ensure(Path.Combine(_dir, "demo"));
        var options = new ServerOptions
        {
            ModelPath = demo.ModelDir,
            AdapterRoots = [demo.AdapterRoot],
            TargetRank = DemoAssets.TargetRank,
            Slots = 2,
            MaxBatch = 4,
            MaxTokens = 32,
            MaxPromptTokens = 64,
            Port = 0,
            MetricsPort = 0,
            HttpPort = 0,
            TorchThreads = 1,
        };
        _app = LoraSqueezeServer.Build(options, ServerBackends.ForModel(options), l => l.SetMinimumLevel(LogLevel.Warning));
        await _app.StartAsync();
        _endpoints = _app.Services.GetRequiredService<ServerEndpoints>();
    }

    public async Task DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
        try
        {
            Directory.Delete(_dir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp folder left behind does not affect other tests.
        }
    }

    private WorkloadSpec Workload => new()
    {
        AdapterIds = ["demo-r4", "demo-r8", "demo-r16"],
        ZipfAlpha = 1.0,
        BaseShare = 0.25,
        PromptTokens = new IntRange(4, 24),
        OutputTokens = new IntRange(2, 8),
        VocabSize = 200,
        Seed = 3,
    };

    [Fact]
    public async Task Closed_loop_run_to_its_duration_reports_a_steady_window_from_the_server_counter()
    {
        var options = new LoadOptions
        {
            Mode = LoadMode.Closed,
            Concurrency = 4,
            Duration = TimeSpan.FromSeconds(4),
            MaxRequests = 100_000,
            WarmupAdapter = "demo-r16",
            ProgressInterval = TimeSpan.Zero,
        };
        var report = await LoadTestCli.RunOnceAsync(_endpoints.GrpcUri, _endpoints.MetricsUri, Workload, options,
            Path.Combine(_dir, "steady"), null, CancellationToken.None);
        Assert.Equal(0, report.Failed);
        Assert.False(double.IsNaN(report.SteadyOutputTokensPerSecond));
        Assert.True(report.SteadyOutputTokensPerSecond > 0);
        // The window (the last 3 s of sending) saw at most every token the server generated in the run.
        Assert.True(report.SteadyOutputTokensPerSecond * 3 * 0.9 <= report.Server!.GeneratedTokens,
            $"steady {report.SteadyOutputTokensPerSecond} tok/s vs {report.Server.GeneratedTokens} tokens in all");
        Assert.Equal(report.SteadyOutputTokensPerSecond, report.ComparedTokensPerSecond);
    }

    [Fact]
    public async Task Closed_loop_quick_run_reports_counts_that_add_up()
    {
        var outDir = Path.Combine(_dir, "closed");
        var options = new LoadOptions
        {
            Mode = LoadMode.Closed,
            Concurrency = 4,
            Duration = TimeSpan.FromSeconds(20),
            MaxRequests = 24,
            WarmupAdapter = "demo-r16",
            ProgressInterval = TimeSpan.Zero,
        };
        var report = await LoadTestCli.RunOnceAsync(_endpoints.GrpcUri, _endpoints.MetricsUri, Workload, options, outDir, null, CancellationToken.None);

        Assert.Equal(24, report.Sent);
        Assert.Equal(report.Sent, report.Succeeded + report.Failed);
        Assert.Equal(report.Failed, report.ErrorsByStatus.Values.Sum());
        Assert.Equal(0, report.Failed);
        Assert.Equal(report.Sent, report.AdapterRequests + report.BaseRequests);
        Assert.True(report.OutputTokens > 0 && report.OutputTokensPerSecond > 0);
        Assert.Equal(report.Succeeded, report.Latency.Count);
        // It stopped at its request cap before the window ended: no saturated window, so no steady figure.
        Assert.True(double.IsNaN(report.SteadyOutputTokensPerSecond));

        // The server saw exactly the measured requests' tokens (the warm-up finished before the first scrape).
        var server = report.Server!;
        Assert.Equal(report.OutputTokens, server.GeneratedTokens);
        // Every adapter request is a device hit, a host hit or waits on a disk load that may serve several requests;
        // demo-r16 was loaded by the warm-up, the other adapters used are loaded once each.
        Assert.InRange(server.DeviceHits + server.HostHits + server.DiskLoads, 1, report.AdapterRequests);
        Assert.InRange(server.DiskLoads, report.DistinctAdapters - 1, report.DistinctAdapters);
        Assert.Equal(0, server.LoadErrors);

        Assert.True(File.Exists(Path.Combine(outDir, "report.json")));
        Assert.Contains("| run |", await File.ReadAllTextAsync(Path.Combine(outDir, "report.md")), StringComparison.Ordinal);
        Assert.True(new FileInfo(Path.Combine(outDir, "latency.png")).Length > 1000);
    }

    [Fact]
    public async Task Open_loop_stops_at_its_duration_and_counts_unknown_adapters_as_errors()
    {
        var options = new LoadOptions
        {
            Mode = LoadMode.Open,
            Rate = 20,
            Duration = TimeSpan.FromSeconds(1.5),
            MaxRequests = 12,
            ProgressInterval = TimeSpan.Zero,
        };
        var workload = Workload with { AdapterIds = ["demo-r4", "no-such-adapter"], ZipfAlpha = 0, BaseShare = 0 };
        var report = await LoadTestCli.RunOnceAsync(_endpoints.GrpcUri, _endpoints.MetricsUri, workload, options,
            Path.Combine(_dir, "open"), null, CancellationToken.None);

        Assert.InRange(report.Sent, 1, 12);
        Assert.Equal(report.Sent, report.Succeeded + report.Failed);
        Assert.Equal(report.Sent, report.AdapterRequests);
        // Uniform popularity over two ids: the unknown one fails with NOT_FOUND, the other succeeds.
        Assert.Equal(report.Failed, report.ErrorsByStatus.GetValueOrDefault("NotFound"));
        Assert.Equal(report.Failed, report.ErrorsByStatus.Values.Sum());
    }
}
