using System.Diagnostics;

namespace LoraSqueeze.Cli.Tests;

/// <summary>Runs the built CLI (<c>dotnet lorasqueeze.dll ...</c>) as a separate process, as a user would.</summary>
internal static class CliProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "lorasqueeze.dll");

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(Dll);
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        return psi;
    }

    /// <summary>Runs to completion: exit code, stdout, stderr.</summary>
    public static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        using var p = Process.Start(StartInfo(args))!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"lorasqueeze {string.Join(' ', args)} did not finish in 120 s");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>A failure the user can read: non-zero exit, one "error:" line naming the problem, no stack trace.</summary>
    public static string AssertCleanError((int Code, string Stdout, string Stderr) result, string mentions)
    {
        Assert.True(result.Code != 0, $"exit 0; stdout: {result.Stdout}");
        Assert.StartsWith("error: ", result.Stderr);
        Assert.Contains(mentions, result.Stderr);
        Assert.DoesNotContain("   at ", result.Stderr);
        Assert.DoesNotContain("Unhandled exception", result.Stderr);
        Assert.Single(result.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        return result.Stderr;
    }
}
