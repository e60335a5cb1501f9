using System.CommandLine;
using System.Globalization;
using LoraSqueeze.PeerBench;

CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
try
{
    return await PeerBenchCli.Build().Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
}
catch (Exception ex) when (ex is ArgumentException or IOException or InvalidOperationException or TimeoutException)
{
    // Bad settings and a failed child process: one line, no stack trace (LORASQUEEZE_DEBUG=1 shows it).
    Console.Error.WriteLine($"error: {ex.Message}");
    if (Environment.GetEnvironmentVariable("LORASQUEEZE_DEBUG") == "1") Console.Error.WriteLine(ex);
    return 1;
}
