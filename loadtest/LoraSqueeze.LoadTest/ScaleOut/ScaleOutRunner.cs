using System.Globalization;
using LoraSqueeze.LoadTest.Reporting;
using LoraSqueeze.LoadTest.Running;
using LoraSqueeze.LoadTest.Workload;

namespace LoraSqueeze.LoadTest.ScaleOut;

/// <summary>
/// Runs the replica comparison: for each policy a fresh replica set (cold tiers), the same Zipf load through HAProxy's
/// front port with the OpenAI API, every replica's counters read before and after; then a fresh affinity set with one
/// replica killed a third of the way into the run.
/// </summary>
public sealed class ScaleOutRunner(ScaleOutSettings settings, TextWriter log)
{
    private WorkloadSpec Workload => new()
    {
        AdapterIds = settings.AdapterIds,
        ZipfAlpha = settings.ZipfAlpha,
        BaseShare = 0,
        PromptTokens = settings.PromptTokens,
        OutputTokens = settings.OutputTokens,
        VocabSize = 256,
        Seed = settings.Seed,
    };

    private LoadOptions Options => new()
    {
        Mode = LoadMode.Closed,
        Concurrency = settings.Concurrency,
        Duration = settings.Duration,
        WarmupRequests = 2,
        ProgressInterval = TimeSpan.FromSeconds(10),
        RequestDeadline = TimeSpan.FromSeconds(120),
    };

    public async Task<(List<PolicyResult> Policies, FailoverResult Failover)> RunAsync(CancellationToken ct)
    {
        var policies = new List<PolicyResult>();
        foreach (var policy in (string[])["affinity", "round-robin"])
        {
            log.WriteLine($"scale-out: {policy}, {settings.Replicas} replicas, {settings.AdapterIds.Count} adapters, {settings.Duration.TotalSeconds:F0} s");
            policies.Add(await RunPolicyAsync(policy, ct));
        }
        log.WriteLine("scale-out: failover (affinity, one replica killed after a third of the run)");
        var failover = await RunFailoverAsync("affinity", ct);
        return (policies, failover);
    }

    private async Task<PolicyResult> RunPolicyAsync(string policy, CancellationToken ct)
    {
        using var set = ReplicaSet.Start(settings, policy, Path.Combine(settings.WorkDir, policy));
        using var http = new HttpClient();
        ServerCounters?[] before = [];
        var results = await new LoadRunner(set.Front, log, LoadApi.OpenAi, Path.GetFileName(settings.ModelDir)).RunAsync(Workload, Options,
            async () => before = await set.ScrapeAsync(http, ct), ct: ct);
        var after = await set.ScrapeAsync(http, ct);
        var deltas = after.Select((a, i) => a!.Minus(before[i]!)).ToList();
        var ok = results.Where(r => r.Ok).ToList();
        double window = settings.Duration.TotalSeconds;
        double adapterRequests = deltas.Sum(d => d.DeviceHits + d.HostHits + d.DiskLoads);
        var ttft = ok.Where(r => r.TtftSeconds is not null).Select(r => r.TtftSeconds!.Value).ToList();
        return new PolicyResult(policy, results.Count, results.Count - ok.Count, ok.Count / window,
            ok.Sum(r => (double)r.CompletionTokens) / window, Percentiles.Of(ttft, 50), Percentiles.Of(ttft, 99),
            deltas.Select(d => d.DiskLoads).ToList(),
            deltas.Select(d => d.DeviceHits + d.HostHits + d.DiskLoads).ToList(),
            deltas.Sum(d => d.DeviceHits) / adapterRequests, deltas.Sum(d => d.HostHits) / adapterRequests,
            results.Select(r => r.AdapterId).Distinct(StringComparer.Ordinal).Count());
    }

    private async Task<FailoverResult> RunFailoverAsync(string policy, CancellationToken ct)
    {
        using var set = ReplicaSet.Start(settings, policy, Path.Combine(settings.WorkDir, "failover"));
        using var http = new HttpClient();
        int victim = 0;
        double killAt = settings.Duration.TotalSeconds / 3;
        Task? killer = null;
        var results = await new LoadRunner(set.Front, log, LoadApi.OpenAi, Path.GetFileName(settings.ModelDir)).RunAsync(Workload, Options, () =>
        {
            killer = Task.Run(async () =>
            {
                await Task.Delay(TimeSpan.FromSeconds(killAt), ct);
                // The replica with the most sequences running: the kill must catch requests in flight.
                var running = new double[set.Replicas.Count];
                for (int i = 0; i < running.Length; i++)
                {
                    var text = await http.GetStringAsync(set.Replicas[i].Metrics, ct);
                    running[i] = Testing.PrometheusText.Sum(Testing.PrometheusText.Parse(text), "lorasqueeze_running_requests");
                }
                victim = Array.IndexOf(running, running.Max());
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"  killing {set.Replicas[victim].Name} (pid {set.Replicas[victim].Pid}, {running[victim]} running) at {killAt:F1} s"));
                set.Kill(victim);
            }, ct);
            return Task.CompletedTask;
        }, ct: ct);
        if (killer is not null) await killer;
        var failed = results.Where(r => !r.Ok).ToList();
        int seconds = (int)Math.Ceiling(results.Count == 0 ? 0 : results.Max(r => r.EndSeconds));
        var okPer = new int[seconds + 1];
        var failedPer = new int[seconds + 1];
        foreach (var r in results) (r.Ok ? okPer : failedPer)[(int)r.EndSeconds]++;
        return new FailoverResult(policy, set.Replicas[victim].Name, killAt, results.Count, failed.Count,
            failed.GroupBy(r => r.Status).ToDictionary(g => g.Key, g => g.Count(), StringComparer.Ordinal),
            failed.Count == 0 ? null : failed.Min(r => r.EndSeconds), failed.Count == 0 ? null : failed.Max(r => r.EndSeconds),
            okPer, failedPer);
    }
}
