using System.Globalization;

namespace LoraSqueeze.LoadTest.Reporting;

/// <summary>The machine a run was on: cores and the 1/5/15-minute load averages (benchmarks here share 2 cores).</summary>
public static class MachineInfo
{
    public static double[] LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return [.. parts.Take(3).Select(p => double.Parse(p, CultureInfo.InvariantCulture))];
        }
        catch (IOException)
        {
            return [];
        }
        catch (UnauthorizedAccessException)
        {
            return [];
        }
    }

    public static string Describe() => string.Create(CultureInfo.InvariantCulture,
        $"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, " +
        $".NET {Environment.Version}, load average {string.Join(" / ", LoadAverage().Select(x => x.ToString("F2", CultureInfo.InvariantCulture)))}");
}
