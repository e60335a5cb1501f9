using System.Globalization;
using System.Text;

namespace LoraSqueeze.LoadTest.Reporting;

/// <summary>Markdown tables for load reports.</summary>
public static class RunMarkdown
{
    /// <param name="ratio">The "× base" column per report; none: "—".</param>
    public static string Table(IReadOnlyList<LoadReport> reports, Func<LoadReport, double>? ratio = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine("| run | ok / sent | errors | req/s | out tok/s | steady tok/s | × base | TTFT p50 / p90 / p99 s | latency p50 / p90 / p99 s | slot hits / host / disk | mean batch | load avg |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in reports)
        {
            var s = r.Server;
            string times = ratio is null ? "—" : F(ratio(r), "F3");
            string errors = r.ErrorsByStatus.Count == 0 ? "0" : string.Join(", ", r.ErrorsByStatus.Select(e => $"{e.Key} {e.Value}"));
            sb.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {r.Name} | {r.Succeeded} / {r.Sent} | {errors} | {r.RequestsPerSecond:F2} | {r.OutputTokensPerSecond:F1} | {F(r.SteadyOutputTokensPerSecond, "F1")} | {times} | " +
                $"{r.TimeToFirstToken.P50:F2} / {r.TimeToFirstToken.P90:F2} / {r.TimeToFirstToken.P99:F2} | " +
                $"{r.Latency.P50:F2} / {r.Latency.P90:F2} / {r.Latency.P99:F2} | " +
                $"{(s is null ? "—" : $"{s.DeviceHits:F0} / {s.HostHits:F0} / {s.DiskLoads:F0}")} | {(s is null ? "—" : F(s.MeanBatch, "F2"))} | " +
                $"{(r.LoadAverageAfter.Length > 0 ? F(r.LoadAverageAfter[0], "F1") : "—")} |"));
        }
        return sb.ToString();
    }

    public static string Single(LoadReport r) =>
        $"# Load test: {r.Name}\n\nTarget {r.Target}, {r.Mode}; workload: {r.Workload}.\n\n{Table([r])}\n" +
        $"Errors by status: {(r.ErrorsByStatus.Count == 0 ? "none" : string.Join(", ", r.ErrorsByStatus.Select(e => $"{e.Key} {e.Value}")))}. " +
        $"Adapter requests {r.AdapterRequests} on {r.DistinctAdapters} distinct adapters, base requests {r.BaseRequests}.\n";

    private static string F(double value, string format) => double.IsNaN(value) ? "—" : value.ToString(format, CultureInfo.InvariantCulture);
}
