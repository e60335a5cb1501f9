using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Safetensors;

namespace LoraSqueeze.Cli.Commands;

/// <summary>Turns expected failures (bad input) into one line on stderr and exit code 1, never a stack trace.</summary>
public static class CliErrors
{
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception ex) when (ex is AdapterFormatException or UnsupportedAdapterException or SafetensorsFormatException
            or IOException or UnauthorizedAccessException or ArgumentException or InvalidOperationException)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 1;
        }
    }
}
