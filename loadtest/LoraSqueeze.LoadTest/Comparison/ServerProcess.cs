using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using LoraSqueeze.Protos.V1;
using LoraSqueeze.Testing;

namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>
/// A <c>lorasqueeze serve</c> process on free loopback ports, started for one scenario of the comparison and killed
/// after it (its own process only). Ready once a one-token base-model Generate succeeds, i.e. the model is loaded.
/// Output goes to a log file next to the report.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly ChildProcess _process;

    private ServerProcess(ChildProcess process, int port, int metricsPort)
    {
        _process = process;
        GrpcUri = new Uri($"http://127.0.0.1:{port}");
        MetricsUri = new Uri($"http://127.0.0.1:{metricsPort}/metrics");
    }

    public Uri GrpcUri { get; }

    public Uri MetricsUri { get; }

    public static async Task<ServerProcess> StartAsync(string launcher, IEnumerable<string> serveArgs, string logPath, TimeSpan timeout, CancellationToken ct)
    {
        int port = FreePort.Next(), metricsPort = FreePort.Next(), httpPort = FreePort.Next();
        var process = ChildProcess.Start(launcher, ["serve", "--port", port.ToString(CultureInfo.InvariantCulture),
            "--metrics-port", metricsPort.ToString(CultureInfo.InvariantCulture), "--http-port", httpPort.ToString(CultureInfo.InvariantCulture), .. serveArgs], logPath: logPath);
        var server = new ServerProcess(process, port, metricsPort);
        try
        {
            await server.WaitReadyAsync(timeout, ct);
            return server;
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    private async Task WaitReadyAsync(TimeSpan timeout, CancellationToken ct)
    {
        var until = DateTime.UtcNow + timeout;
        var probe = new GenerateRequest { Tokens = new TokenIds(), Sampling = new SamplingOptions { MaxTokens = 1, Temperature = 0 } };
        probe.Tokens.Ids.AddRange([5, 6, 7]);
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"lorasqueeze serve exited with code {_process.ExitCode} (see its log)");
            // A fresh channel per attempt: a compare once timed out after 300 s although its server was ready at 46 s
            // (the launcher had rebuilt first); the one channel's reconnect backoff after the refused connections is
            // the likely cause, and a fresh channel per probe cannot be caught by it.
            using var channel = GrpcChannel.ForAddress(GrpcUri);
            var client = new Inference.InferenceClient(channel);
            try
            {
                await client.GenerateAsync(probe, deadline: DateTime.UtcNow.AddSeconds(30), cancellationToken: ct);
                return;
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Internal)
            {
                if (DateTime.UtcNow > until) throw new TimeoutException($"server on {GrpcUri} not ready after {timeout.TotalSeconds:F0} s", ex);
                await Task.Delay(500, ct);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _process.Dispose();
        return ValueTask.CompletedTask;
    }
}
