using LoraSqueeze.Testing;

namespace LoraSqueeze.LoadTest.Running;

/// <summary>
/// The server's adapter-cache and batching counters (from <c>/metrics</c>), read before and after a run; the report
/// carries the difference. A device hit means the adapter was already in a slot; host and disk "hits" are slot misses
/// served from the host cache or loaded (and squeezed) from disk.
/// </summary>
public sealed record ServerCounters(
    double DeviceHits,
    double HostHits,
    double DiskLoads,
    double LoadErrors,
    double DeviceEvictions,
    double HostEvictions,
    double Steps,
    double StepSequences,
    double GeneratedTokens)
{
    public static ServerCounters From(IReadOnlyList<PrometheusSample> s) => new(
        DeviceHits: PrometheusText.Sum(s, "lorasqueeze_adapter_hits_total", ("tier", "device")),
        HostHits: PrometheusText.Sum(s, "lorasqueeze_adapter_hits_total", ("tier", "host")),
        DiskLoads: PrometheusText.Sum(s, "lorasqueeze_adapter_hits_total", ("tier", "disk")),
        LoadErrors: PrometheusText.Sum(s, "lorasqueeze_adapter_loads_total", ("result", "error")),
        DeviceEvictions: PrometheusText.Sum(s, "lorasqueeze_adapter_evictions_total", ("tier", "device")),
        HostEvictions: PrometheusText.Sum(s, "lorasqueeze_adapter_evictions_total", ("tier", "host")),
        Steps: PrometheusText.Sum(s, "lorasqueeze_batch_size_count"),
        StepSequences: PrometheusText.Sum(s, "lorasqueeze_batch_size_sum"),
        GeneratedTokens: PrometheusText.Sum(s, "lorasqueeze_generated_tokens_total"));

    public ServerCounters Minus(ServerCounters before) => new(
        DeviceHits - before.DeviceHits, HostHits - before.HostHits, DiskLoads - before.DiskLoads, LoadErrors - before.LoadErrors,
        DeviceEvictions - before.DeviceEvictions, HostEvictions - before.HostEvictions, Steps - before.Steps,
        StepSequences - before.StepSequences, GeneratedTokens - before.GeneratedTokens);

    /// <summary>Requests that found their adapter in a device slot, of all adapter requests.</summary>
    public double DeviceHitRate => DeviceHits + HostHits + DiskLoads is var n && n > 0 ? DeviceHits / n : double.NaN;

    /// <summary>Mean sequences per engine step.</summary>
    public double MeanBatch => Steps > 0 ? StepSequences / Steps : double.NaN;

    /// <summary>Reads and parses <c>/metrics</c> (loopback only).</summary>
    public static async Task<ServerCounters> ScrapeAsync(HttpClient http, Uri metricsUri, CancellationToken ct = default)
    {
        LoopbackGuard.Check(metricsUri.ToString());
        var text = await http.GetStringAsync(metricsUri, ct);
        return From(PrometheusText.Parse(text));
    }
}
