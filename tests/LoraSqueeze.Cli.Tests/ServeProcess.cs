using LoraSqueeze.Server.Tests;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.RegularExpressions;

namespace LoraSqueeze.Cli.Tests;

/// <summary>
/// One `lorasqueeze serve` process for a test class, on ports the OS picks (port 0; the ready line names them), with
/// the demo model and adapters. The environment sets the target rank and a slot count that the --slots flag
/// overrides (precedence: appsettings.json &lt; LORASQUEEZE_ environment &lt; flags).
/// </summary>
public sealed partial class ServeProcess : IDisposable
{
    public const string ReadyText = "LoraSqueeze serving";

    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log = new();

    public ServeProcess()
    {
        var demo = DemoFixture.Assets;
        var psi = CliProcess.StartInfo(
            ["serve", "--model", demo.ModelDir, "--adapters", demo.AdapterRoot, "--port", "0", "--metrics-port", "0", "--slots", "2"],
            new Dictionary<string, string> { ["LORASQUEEZE_SERVER__TARGETRANK"] = "8", ["LORASQUEEZE_SERVER__SLOTS"] = "5" });
        _process = Process.Start(psi)!;
        _process.OutputDataReceived += (_, e) => { if (e.Data is not null) _log.Enqueue(e.Data); };
        _process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _log.Enqueue(e.Data); };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var until = DateTime.UtcNow.AddSeconds(90);
        while (!_log.Any(l => l.Contains(ReadyText, StringComparison.Ordinal)))
        {
            if (_process.HasExited || DateTime.UtcNow > until)
            {
                Dispose();
                throw new InvalidOperationException($"serve did not become ready:\n{string.Join('\n', _log)}");
            }
            Thread.Sleep(50);
        }
        Address = GrpcAddress().Match(_log.First(l => l.Contains(ReadyText, StringComparison.Ordinal))).Groups[1].Value;
    }

    /// <summary>The gRPC address from the ready line.</summary>
    public string Address { get; }

    /// <summary>Every line the server wrote (stdout and stderr) so far.</summary>
    public IReadOnlyCollection<string> Log => _log;

    [GeneratedRegex(@"gRPC (http://[^,\s]+),")]
    private static partial Regex GrpcAddress();

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        _process.WaitForExit(10_000);
        _process.Dispose();
    }
}
