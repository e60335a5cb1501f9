using Spectre.Console;

namespace LoraSqueeze.Cli;

/// <summary>Where progress displays go: stdout normally, stderr when <c>--json</c> owns stdout.</summary>
public static class CliConsole
{
    private static readonly Lazy<IAnsiConsole> StdErr = new(() =>
        AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }));

    public static IAnsiConsole ForProgress(bool json) => json ? StdErr.Value : AnsiConsole.Console;

    /// <summary>
    /// For verbs whose progress is written by library code through <see cref="AnsiConsole"/>: with <c>--json</c>, sends
    /// Spectre output and log lines to stderr so stdout holds only the JSON; returns the writer for log lines.
    /// </summary>
    public static TextWriter LogWriter(bool json)
    {
        if (!json) return Console.Out;
        AnsiConsole.Console = StdErr.Value;
        return Console.Error;
    }
}
