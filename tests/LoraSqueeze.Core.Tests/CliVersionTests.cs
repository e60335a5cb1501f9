using System.Diagnostics;
using System.Text.Json;

namespace LoraSqueeze.Core.Tests;

/// <summary>Runs the real `lorasqueeze` binary (copied next to the tests) as a process.</summary>
public class CliVersionTests
{
    internal static (int Code, string Out, string Err) RunCli(params string[] args)
    {
        var dll = Path.Combine(AppContext.BaseDirectory, "lorasqueeze.dll");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) { p.Kill(); throw new TimeoutException("lorasqueeze did not exit"); }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

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
