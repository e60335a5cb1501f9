using System.Text.RegularExpressions;
using LoraSqueeze.Testing;

namespace LoraSqueeze.Cli.Tests;

/// <summary>
/// One `lorasqueeze serve` process for a test class, on ports the OS picks (port 0; the ready line names them), with
/// the demo model and adapters. The environment sets the target rank and a slot count that the --slots flag
/// overrides (precedence: appsettings.json &lt; LORASQUEEZE_ environment &lt; flags).
/// </summary>
public sealed partial class ServeProcess : IDisposable
{
    public const string ReadyText = "LoraSqueeze serving";

    private readonly ChildProcess _process;

    public ServeProcess()
    {
        var demo = DemoFixture.Assets;
        _process = CliProcess.Start(
            ["serve", "--model", demo.ModelDir, "--adapters", demo.AdapterRoot, "--port", "0", "--metrics-port", "0", "--http-port", "0", "--slots", "2"],
            new Dictionary<string, string> { ["LORASQUEEZE_SERVER__TARGETRANK"] = "8", ["LORASQUEEZE_SERVER__SLOTS"] = "5" });
        string ready;
        try
        {
            ready = _process.WaitForLine(l => l.Contains(ReadyText, StringComparison.Ordinal), TimeSpan.FromSeconds(90));
        }
        catch (InvalidOperationException ex)
        {
            Dispose();
            throw new InvalidOperationException($"serve did not become ready: {ex.Message}", ex);
        }
        Address = GrpcAddress().Match(ready).Groups[1].Value;
    }

    /// <summary>The gRPC address from the ready line.</summary>
    public string Address { get; }

    /// <summary>Every line the server wrote (stdout and stderr) so far.</summary>
    public IReadOnlyCollection<string> Log => _process.Lines;

    [GeneratedRegex(@"gRPC (http://[^,\s]+),")]
    private static partial Regex GrpcAddress();

    public void Dispose() => _process.Dispose();
}
