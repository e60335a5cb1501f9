using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Safetensors;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// Turns failures into one line on stderr and exit code 1, never a stack trace. Bad input (the exception types below)
/// prints its message as is; anything else also names its type, since it is a bug. LORASQUEEZE_DEBUG=1 prints the
/// whole exception. Every verb's action runs through <see cref="Run"/> or <see cref="RunAsync"/>.
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
            return Report(ex);
        }
    }

    /// <summary>The async form, for verbs that host a server or call one.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception ex)
        {
            return Report(ex);
        }
    }

    private static int Report(Exception ex)
    {
        // FormatException covers bad sizes (--host-cache abc) and bad addresses (UriFormatException).
        bool expected = ex is AdapterFormatException or UnsupportedAdapterException or SafetensorsFormatException
            or TokenizerFormatException or LoraSqueeze.Model.Gguf.TokenizerExportException or ModelConfigException or IOException or UnauthorizedAccessException
            or ArgumentException or InvalidOperationException or KeyNotFoundException or FormatException;
        Console.Error.WriteLine(expected ? $"error: {ex.Message}" : $"error: {ex.GetType().Name}: {ex.Message}");
        if (Environment.GetEnvironmentVariable("LORASQUEEZE_DEBUG") == "1") Console.Error.WriteLine(ex);
        return 1;
    }
}
