using System.Text.Json;

namespace LoraSqueeze.Cli.Tests;

/// <summary>Runs the real `lorasqueeze` binary (copied next to the tests) as a process.</summary>
public class CliVersionTests
{
    internal static (int Code, string Out, string Err) RunCli(params string[] args) => CliProcess.Run(args);

    [Fact]
    public void VersionPrintsVersionBackendAndDevice()
    {
        var (code, stdout, stderr) = RunCli("--version");
        Assert.True(code == 0, stderr);
        Assert.Matches(@"^lorasqueeze \d+\.\d+\.\d+ \(TorchSharp 0\.107\.0, backend cpu, device (cpu|cuda.*)\)", stdout.Trim());
    }

    [Fact]
    public void VersionJsonIsMachineReadable()
    {
        var (code, stdout, stderr) = RunCli("--version", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("cpu", doc.RootElement.GetProperty("backend").GetString());
        Assert.Equal("0.107.0", doc.RootElement.GetProperty("torchSharp").GetString());
        Assert.True(doc.RootElement.GetProperty("threads").GetInt32() >= 1);
    }

    [Fact]
    public void UnknownOptionFailsWithMessage()
    {
        var (code, _, stderr) = RunCli("--no-such-flag");
        Assert.NotEqual(0, code);
        Assert.Contains("--no-such-flag", stderr);
    }
}
