using LoraSqueeze.Testing;

namespace LoraSqueeze.Cli.Tests;

/// <summary>Runs the built CLI (<c>dotnet lorasqueeze.dll ...</c>) as a separate process, as a user would.</summary>
internal static class CliProcess
{
    public static string Dll => Path.Combine(AppContext.BaseDirectory, "lorasqueeze.dll");

    /// <summary>Starts the CLI with <paramref name="args"/>; its output lines are collected as they come.</summary>
    public static ChildProcess Start(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null) =>
        ChildProcess.Start("dotnet", [Dll, .. args], environment);

    /// <summary>Runs to completion: exit code, stdout, stderr.</summary>
    public static (int Code, string Stdout, string Stderr) Run(params string[] args)
    {
        try
        {
            return ChildProcess.Run("dotnet", [Dll, .. args], TimeSpan.FromSeconds(120));
        }
        catch (TimeoutException ex)
        {
            Assert.Fail(ex.Message);
            throw;
        }
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
