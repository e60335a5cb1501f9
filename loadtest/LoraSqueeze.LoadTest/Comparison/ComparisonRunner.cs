using System.Globalization;
using LoraSqueeze.LoadTest.Reporting;
using LoraSqueeze.LoadTest.Running;
using LoraSqueeze.LoadTest.Workload;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Testing;

namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>
/// The comparison of issue 7 in one run with one load: base-only (the ceiling), ours (uniform slots at the target rank,
/// adapters squeezed), the vLLM/SGLang layout (slots padded to the largest source rank, adapters exact), and ours as the
/// number of distinct adapters grows (S-LoRA's headline figure).
/// Method: two long-lived servers with the same settings, ours (which also serves the sweep) and padded, both preloaded
/// and warmed up by an unmeasured window; each also serves base-only windows (a base-only request never touches an
/// adapter), its own ceiling. Then <see cref="ComparisonSettings.Rounds"/> rounds of base/ours/base/padded windows in
/// rotated order, so slow drift
/// of a shared machine and "first window after start" effects fall on every kind alike (one server per scenario, as
/// this runner did before, measured the same base-only load 10–25 % apart from run to run). Every window replays the
/// same request sequence (same seed); only the adapter ids differ (none for base-only). Then the sweep on ours, and the
/// cold run (raw adapters squeezed on first use) on a fresh server.
/// </summary>
public sealed class ComparisonRunner(ComparisonSettings settings, TextWriter log)
{
    /// <summary>
    /// The kinds of a round, in the order of round 1; round k starts k − 1 places later. Base-only runs on both servers:
    /// each layout is divided by the base-only of its own process (two server processes of the same binary differed
    /// by up to 1.5× on the small demo model, which would otherwise be charged to the layout).
    /// </summary>
    internal static readonly string[] RoundKinds = ["base", "uniform", "base-padded", "padded"];

    /// <summary>The order of the kinds in round <paramref name="round"/> (1-based): each kind takes each position once per three rounds.</summary>
    internal static IReadOnlyList<string> RoundOrder(int round) =>
        [.. Enumerable.Range(0, RoundKinds.Length).Select(k => RoundKinds[(k + round - 1) % RoundKinds.Length])];

    public async Task<ComparisonResult> RunAsync(string command, CancellationToken ct)
    {
        var s = settings;
        Directory.CreateDirectory(s.WorkDir);
        log.WriteLine($"[{s.ModelName}] adapters: {s.Adapters} ids, source ranks {string.Join(',', s.SourceRanks)}, {s.CopiesPerRank} files per rank");
        var set = AssetWriter.EnsureAdapters(s.ModelDir, Path.Combine(s.WorkDir, "adapters"), s.Adapters, s.SourceRanks, s.CopiesPerRank, s.Seed);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{s.ModelName}] adapter pool: {set.PhysicalAdapters} files, {set.DiskBytes / 1e6:F1} MB"));
        var squeezed = AssetWriter.EnsureSqueezed(s.ModelDir, set, Path.Combine(s.WorkDir, $"adapters-r{s.TargetRank}"), s.TargetRank);
        int vocab = ModelConfig.Load(s.ModelDir).VocabSize;
        var baseWorkload = new WorkloadSpec
        {
            ZipfAlpha = s.ZipfAlpha,
            PromptTokens = s.PromptTokens,
            OutputTokens = s.OutputTokens,
            VocabSize = vocab,
            Seed = s.Seed,
        };
        var adapterWorkload = baseWorkload with { AdapterIds = set.Ids.Take(s.Adapters).ToList() };
        var results = new List<ScenarioResult>();
        int windows = s.Rounds * RoundKinds.Length + s.Sweep.Count(n => n < s.Adapters) + 1, index = 0;

        // Ours serves the pool squeezed ahead of time (its load is a read; the squeeze is then exact), padded the raw
        // adapters exactly as stored, zero-padded into rank-max slots.
        await using (var ours = await StartServerAsync("ours", "uniform", squeezed.Root, s.Preload, ct))
        await using (var padded = await StartServerAsync("padded", "padded", set.Root, s.Preload, ct))
        {
            foreach (var (server, name) in new[] { (ours, "ours"), (padded, "padded") })
            {
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{s.ModelName}] warm-up window on {name} ({s.WarmupDuration.TotalSeconds:F0} s, not measured)"));
                await MeasureAsync(server, "warm-up", adapterWorkload, set.Ids[^1], s.WarmupDuration, ct);
            }
            for (int round = 1; round <= s.Rounds; round++)
            {
                foreach (var kind in RoundOrder(round))
                {
                    ct.ThrowIfCancellationRequested();
                    index++;
                    var (server, layout, n, slotRank, label) = kind switch
                    {
                        "base" => (ours, "uniform", 0, s.TargetRank, "base-only (ours' server)"),
                        "base-padded" => (padded, "padded", 0, s.PaddedMaxRank, "base-only (padded's server)"),
                        "uniform" => (ours, "uniform", s.Adapters, s.TargetRank, $"uniform n={s.Adapters}"),
                        _ => (padded, "padded", s.Adapters, s.PaddedMaxRank, $"padded n={s.Adapters}"),
                    };
                    string name = $"{label}, round {round}";
                    log.WriteLine($"[{s.ModelName}] window {index}/{windows}: {name} (slot rank {slotRank})");
                    var report = await MeasureAsync(server, name, n == 0 ? baseWorkload : adapterWorkload, set.Ids[^1], s.Duration, ct);
                    results.Add(new ScenarioResult(kind, layout, n, slotRank, report, round));
                    Summarize(report);
                }
            }
            foreach (int n in s.Sweep.Where(n => n < s.Adapters))
            {
                index++;
                string name = $"uniform n={n}";
                log.WriteLine($"[{s.ModelName}] window {index}/{windows}: {name} (sweep)");
                var report = await MeasureAsync(ours, name, baseWorkload with { AdapterIds = set.Ids.Take(n).ToList() }, set.Ids[^1], s.Duration, ct);
                results.Add(new ScenarioResult("sweep", "uniform", n, s.TargetRank, report));
                Summarize(report);
            }
        }

        // Cold: a fresh server on the raw adapters, each squeezed on its first use inside the window (no preload).
        index++;
        string coldName = $"uniform n={s.Adapters}, squeeze on load";
        log.WriteLine($"[{s.ModelName}] window {index}/{windows}: {coldName}");
        await using (var cold = await StartServerAsync("cold", "uniform", set.Root, preload: false, ct))
        {
            var report = await MeasureAsync(cold, coldName, adapterWorkload, set.Ids[^1], s.Duration, ct);
            results.Add(new ScenarioResult("uniform-cold", "uniform", s.Adapters, s.TargetRank, report));
            Summarize(report);
        }
        return new ComparisonResult
        {
            ModelName = s.ModelName,
            ModelDir = s.ModelDir,
            Machine = MachineInfo.Describe(),
            Command = command,
            Settings = s,
            Scenarios = results,
            AdapterDiskBytes = set.DiskBytes,
            PhysicalAdapters = set.PhysicalAdapters,
        };
    }

    private void Summarize(LoadReport report) => log.WriteLine(string.Create(CultureInfo.InvariantCulture,
        $"[{settings.ModelName}]   → {report.SteadyOutputTokensPerSecond:F1} tok/s steady, {report.OutputTokensPerSecond:F1} end to end, " +
        $"{report.RequestsPerSecond:F2} req/s, {report.Failed} failed"));

    private async Task<ServerProcess> StartServerAsync(string name, string layout, string adapterRoot, bool preload, CancellationToken ct)
    {
        var s = settings;
        string[] common =
        [
            "--model", s.ModelDir, "--adapters", adapterRoot,
            "--target-rank", s.TargetRank.ToString(CultureInfo.InvariantCulture),
            "--lora-layout", layout, "--padded-max-rank", s.PaddedMaxRank.ToString(CultureInfo.InvariantCulture),
            "--slots", s.Slots.ToString(CultureInfo.InvariantCulture), "--max-batch", s.MaxBatch.ToString(CultureInfo.InvariantCulture),
            "--host-cache", s.HostCache, "--queue", "1024", "--slot-dtype", s.SlotDType,
        ];
        string[] args = preload ? [.. common, "--preload"] : common;
        var logPath = Path.Combine(s.WorkDir, $"server-{name}.log");
        log.WriteLine($"[{s.ModelName}] starting the {name} server ({layout}{(preload ? ", preload" : "")}); log: {logPath}");
        var server = await ServerProcess.StartAsync(s.Launcher, args, logPath, TimeSpan.FromMinutes(5), ct);
        if (preload)
        {
            using var http = new HttpClient();
            await WaitForPreloadAsync(http, server.MetricsUri, TimeSpan.FromMinutes(20), ct);
        }
        return server;
    }

    private async Task<LoadReport> MeasureAsync(ServerProcess server, string name, WorkloadSpec workload, string warmupAdapter,
        TimeSpan duration, CancellationToken ct)
    {
        var s = settings;
        var options = new LoadOptions
        {
            Mode = LoadMode.Closed,
            Concurrency = s.Concurrency,
            Duration = duration,
            MaxRequests = s.MaxRequests,
            WarmupRequests = 2,
            WarmupAdapter = warmupAdapter,
            ProgressInterval = TimeSpan.FromSeconds(s.Quick ? 5 : 15),
        };
        return await MeasureClosedLoopAsync(server, name, workload, options, log, ct);
    }

    /// <summary>
    /// One closed-loop window against <paramref name="server"/>: the load generator's requests, the server's counters
    /// over the measured window only (read after the warm-up) and its steady output tokens per second.
    /// </summary>
    public static async Task<LoadReport> MeasureClosedLoopAsync(ServerProcess server, string name, WorkloadSpec workload, LoadOptions options,
        TextWriter? log, CancellationToken ct)
    {
        using var http = new HttpClient();
        var loadBefore = MachineInfo.LoadAverage();
        var runner = new LoadRunner(server.GrpcUri, log);
        ServerCounters? before = null;
        var steady = new SteadyStateProbe(async token => (await ServerCounters.ScrapeAsync(http, server.MetricsUri, token)).GeneratedTokens);
        var results = await runner.RunAsync(workload, options, async () => before = await ServerCounters.ScrapeAsync(http, server.MetricsUri, ct), steady, ct);
        var after = await ServerCounters.ScrapeAsync(http, server.MetricsUri, ct);
        return LoadReport.From(name, server.GrpcUri.ToString(), $"closed loop, {options.Concurrency} clients",
            Describe(workload), results, before is null ? after : after.Minus(before), loadBefore, MachineInfo.LoadAverage(),
            steady.OutputTokensPerSecond ?? double.NaN);
    }

    /// <summary>Polls /metrics until the server's start-up preload has finished (the measured window starts after it).</summary>
    private async Task WaitForPreloadAsync(HttpClient http, Uri metricsUri, TimeSpan timeout, CancellationToken ct)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var lastLog = TimeSpan.Zero;
        while (true)
        {
            LoopbackGuard.Check(metricsUri.ToString());
            var samples = PrometheusText.Parse(await http.GetStringAsync(metricsUri, ct));
            double pending = PrometheusText.Sum(samples, "lorasqueeze_adapter_preload_pending");
            if (PrometheusText.Sum(samples, "lorasqueeze_adapter_preload_finished") >= 1)
            {
                double hostAdapters = PrometheusText.Sum(samples, "lorasqueeze_adapters", ("tier", "host"));
                double hostBytes = PrometheusText.Sum(samples, "lorasqueeze_adapter_bytes", ("tier", "host"));
                log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[{settings.ModelName}]   preload done in {watch.Elapsed.TotalSeconds:F0} s: {hostAdapters} adapters, {hostBytes / 1e9:F2} GB in the host tier"));
                return;
            }
            if (watch.Elapsed > timeout) throw new TimeoutException($"adapter preload not finished after {timeout.TotalMinutes:F0} min ({pending} pending)");
            if (watch.Elapsed - lastLog >= TimeSpan.FromSeconds(10))
            {
                lastLog = watch.Elapsed;
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{settings.ModelName}]   preloading: {pending} adapters to go"));
            }
            await Task.Delay(500, ct);
        }
    }

    internal static string Describe(WorkloadSpec w) => string.Create(CultureInfo.InvariantCulture,
        $"{(w.AdapterIds.Count == 0 ? "base model only" : $"{w.AdapterIds.Count} adapters, Zipf α={w.ZipfAlpha}, base share {w.BaseShare}")}, " +
        $"prompt {w.PromptTokens} tokens, output {w.OutputTokens} tokens, seed {w.Seed}");

}
