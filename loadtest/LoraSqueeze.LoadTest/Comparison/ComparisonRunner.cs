using System.Globalization;
using LoraSqueeze.LoadTest.Reporting;
using LoraSqueeze.LoadTest.Running;
using LoraSqueeze.LoadTest.Workload;
using LoraSqueeze.Model.Config;

namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>
/// The comparison of issue 7 in one run with one load: base-only (the ceiling), ours (uniform slots at the target rank,
/// adapters squeezed), the vLLM/SGLang layout (slots padded to the largest source rank, adapters exact), and ours as the
/// number of distinct adapters grows (S-LoRA's headline figure). Every scenario gets a fresh server process with the
/// same settings and the same request sequence (same seed); base-only runs first and last to bracket drift.
/// </summary>
public sealed class ComparisonRunner(ComparisonSettings settings, TextWriter log)
{
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
        // "uniform" serves the pool squeezed ahead of time (load = read, exact); "uniform-cold" serves the raw adapters
        // and squeezes each on its first use inside the measured window; "padded" serves the raw adapters as they are.
        var plan = new List<(string Kind, string Layout, int Adapters)>
        {
            ("base", "uniform", 0), ("uniform", "uniform", s.Adapters), ("padded", "padded", s.Adapters), ("uniform-cold", "uniform", s.Adapters),
        };
        plan.AddRange(s.Sweep.Where(n => n < s.Adapters).Select(n => ("sweep", "uniform", n)));
        plan.Add(("base", "uniform", 0));

        var results = new List<ScenarioResult>();
        int index = 0;
        foreach (var (kind, layout, n) in plan)
        {
            ct.ThrowIfCancellationRequested();
            index++;
            string name = kind switch
            {
                "base" => $"base-only #{results.Count(r => r.Kind == "base") + 1}",
                "uniform-cold" => $"uniform n={n}, squeeze on load",
                "padded" => $"padded n={n}",
                _ => $"uniform n={n}",
            };
            string root = kind is "uniform" or "sweep" ? squeezed.Root : set.Root;
            int slotRank = layout == "padded" ? s.PaddedMaxRank : s.TargetRank;
            log.WriteLine($"[{s.ModelName}] scenario {index}/{plan.Count}: {name} (slot rank {slotRank})");
            var workload = baseWorkload with { AdapterIds = set.Ids.Take(n).ToList() };
            bool preload = s.Preload && kind is "uniform" or "padded" or "sweep";
            var report = await RunScenarioAsync(name, layout, root, workload, set.Ids[^1], index, preload, ct);
            results.Add(new ScenarioResult(kind, layout, n, slotRank, report));
            log.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"[{s.ModelName}]   → {report.OutputTokensPerSecond:F1} tok/s end to end, {report.SteadyOutputTokensPerSecond:F1} tok/s steady, {report.RequestsPerSecond:F2} req/s, {report.Failed} failed"));
        }
        // The headline uniform run is also the sweep's last point.
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

    private async Task<LoadReport> RunScenarioAsync(string name, string layout, string adapterRoot, WorkloadSpec workload, string warmupAdapter,
        int index, bool preload, CancellationToken ct)
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
        var logPath = Path.Combine(s.WorkDir, $"server-{index:D2}-{Sanitize(name)}.log");
        await using var server = await ServerProcess.StartAsync(s.Launcher, args, logPath, TimeSpan.FromMinutes(5), ct);
        using var http = new HttpClient();
        if (preload) await WaitForPreloadAsync(http, server.MetricsUri, TimeSpan.FromMinutes(20), ct);
        var loadBefore = MachineInfo.LoadAverage();
        var options = new LoadOptions
        {
            Mode = LoadMode.Closed,
            Concurrency = s.Concurrency,
            Duration = s.Duration,
            MaxRequests = s.MaxRequests,
            WarmupRequests = 2,
            WarmupAdapter = warmupAdapter,
            ProgressInterval = TimeSpan.FromSeconds(s.Quick ? 5 : 15),
        };
        var runner = new LoadRunner(server.GrpcUri, log);
        // Counters are read after the warm-up so they cover the measured window only.
        ServerCounters? before = null;
        var steady = new SteadyStateProbe(async token => (await ServerCounters.ScrapeAsync(http, server.MetricsUri, token)).GeneratedTokens);
        var results = await runner.RunAsync(workload, options, async () => before = await ServerCounters.ScrapeAsync(http, server.MetricsUri, ct), steady, ct);
        var after = await ServerCounters.ScrapeAsync(http, server.MetricsUri, ct);
        return LoadReport.From(name, server.GrpcUri.ToString(), $"closed loop, {s.Concurrency} clients",
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

    private static string Sanitize(string name) => new([.. name.Select(c => char.IsLetterOrDigit(c) ? c : '-')]);
}
