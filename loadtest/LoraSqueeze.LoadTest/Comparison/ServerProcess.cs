using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Grpc.Core;
using Grpc.Net.Client;
using LoraSqueeze.Protos.V1;

namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>
/// A <c>lorasqueeze serve</c> process on free loopback ports, started for one scenario of the comparison and killed
/// after it (its own process only). Ready once a one-token base-model Generate succeeds, i.e. the model is loaded.
/// Output goes to a log file next to the report.
/// </summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process _process;

    private ServerProcess(Process process, int port, int metricsPort)
    {
        _process = process;
        GrpcUri = new Uri($"http://127.0.0.1:{port}");
        MetricsUri = new Uri($"http://127.0.0.1:{metricsPort}/metrics");
    }

    public Uri GrpcUri { get; }

    public Uri MetricsUri { get; }

    public static async Task<ServerProcess> StartAsync(string launcher, IEnumerable<string> serveArgs, string logPath, TimeSpan timeout, CancellationToken ct)
    {
        int port = FreePort(), metricsPort = FreePort();
        var info = new ProcessStartInfo(launcher)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in (string[])["serve", "--port", port.ToString(CultureInfo.InvariantCulture),
                     "--metrics-port", metricsPort.ToString(CultureInfo.InvariantCulture), .. serveArgs])
            info.ArgumentList.Add(a);
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {launcher}");
        var log = new StreamWriter(logPath) { AutoFlush = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (log) log.WriteLine(e.Data); };
        process.Exited += (_, _) => { lock (log) log.Dispose(); };
        process.EnableRaisingEvents = true;
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
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
        using var channel = GrpcChannel.ForAddress(GrpcUri);
        var client = new Inference.InferenceClient(channel);
        var until = DateTime.UtcNow + timeout;
        var probe = new GenerateRequest { Tokens = new TokenIds(), Sampling = new SamplingOptions { MaxTokens = 1, Temperature = 0 } };
        probe.Tokens.Ids.AddRange([5, 6, 7]);
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"lorasqueeze serve exited with code {_process.ExitCode} (see its log)");
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

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
