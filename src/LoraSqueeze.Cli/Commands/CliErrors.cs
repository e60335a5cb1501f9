using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Safetensors;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// Turns failures into one line on stderr and exit code 1, never a stack trace. Bad input (the exception types below)
/// prints its message as is; anything else also names its type, since it is a bug. LORASQUEEZE_DEBUG=1 prints the
/// whole exception.
/// </summary>
public static class CliErrors
{
    public static int Run(Func<int> action)
    {
        try
        {
            return action();
        }
        catch (Exception ex)
        {
            bool expected = ex is AdapterFormatException or UnsupportedAdapterException or SafetensorsFormatException
                or TokenizerFormatException or ModelConfigException or IOException or UnauthorizedAccessException
                or ArgumentException or InvalidOperationException or KeyNotFoundException;
            Console.Error.WriteLine(expected ? $"error: {ex.Message}" : $"error: {ex.GetType().Name}: {ex.Message}");
            if (Environment.GetEnvironmentVariable("LORASQUEEZE_DEBUG") == "1") Console.Error.WriteLine(ex);
            return 1;
        }
    }
}
