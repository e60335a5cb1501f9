using Spectre.Console;

namespace LoraSqueeze.Cli;

/// <summary>Where progress displays go: stdout normally, stderr when <c>--json</c> owns stdout.</summary>
public static class CliConsole
{
    private static readonly Lazy<IAnsiConsole> StdErr = new(() =>
        AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) }));

    public static IAnsiConsole ForProgress(bool json) => json ? StdErr.Value : AnsiConsole.Console;
}
