using System.CommandLine;
using System.Globalization;
using LoraSqueeze.LoadTest.Comparison;
using LoraSqueeze.LoadTest.Reporting;
using LoraSqueeze.LoadTest.Running;
using LoraSqueeze.LoadTest.Workload;

namespace LoraSqueeze.LoadTest;

/// <summary>
/// <c>lorasqueeze-loadtest run</c> drives a running server (loopback only); <c>lorasqueeze-loadtest compare</c> starts
/// its own servers and runs the layout comparison and the adapter-count sweep.
/// </summary>
public static class LoadTestCli
{
    /// <summary>Source ranks of the comparison's adapters, capped by what the model's smallest projection can hold.</summary>
    private static readonly int[] CandidateRanks = [4, 8, 16, 32, 64, 128];

    public static RootCommand Build()
    {
        var root = new RootCommand("LoraSqueeze load generator (loopback only).");
        root.Subcommands.Add(RunCommand());
        root.Subcommands.Add(CompareCommand());
        root.Subcommands.Add(RenderCommand());
        root.Subcommands.Add(ScaleOutCommand());
        return root;
    }

    private static Command RunCommand()
    {
        var api = new Option<LoadApi>("--api") { Description = "grpc (Inference.GenerateStream) or openai (streamed /v1/completions).", DefaultValueFactory = _ => LoadApi.Grpc };
        var target = new Option<string?>("--target") { Description = "gRPC address, or the OpenAI base URL with --api openai (loopback only). Default http://127.0.0.1:50051, or http://127.0.0.1:8000/v1." };
        var baseModel = new Option<string>("--base-model") { Description = "--api openai: the base model's served name, sent as 'model' for base requests.", DefaultValueFactory = _ => "demo" };
        var metrics = new Option<string>("--metrics") { Description = "/metrics address (loopback only); empty to skip.", DefaultValueFactory = _ => "http://127.0.0.1:9090/metrics" };
        var mode = new Option<LoadMode>("--mode") { Description = "open (Poisson arrivals) or closed (fixed concurrency).", DefaultValueFactory = _ => LoadMode.Closed };
        var rate = new Option<double>("--rate") { Description = "Open loop: requests per second.", DefaultValueFactory = _ => 2.0 };
        var concurrency = new Option<int>("--concurrency") { Description = "Closed loop: clients.", DefaultValueFactory = _ => 16 };
        var duration = new Option<double>("--duration") { Description = "Seconds of sending.", DefaultValueFactory = _ => 60 };
        var maxRequests = new Option<int>("--max-requests") { Description = "Stop after this many requests.", DefaultValueFactory = _ => 100_000 };
        var adapters = new Option<string>("--adapters") { Description = "Comma-separated adapter ids in popularity order.", DefaultValueFactory = _ => "" };
        var adapterCount = new Option<int>("--adapter-count") { Description = "Use ids a0000..a(N-1) (as `compare` writes them) instead of --adapters." };
        var alpha = new Option<double>("--alpha") { Description = "Zipf exponent of adapter popularity.", DefaultValueFactory = _ => 1.0 };
        var baseShare = new Option<double>("--base-share") { Description = "Share of base-model requests.", DefaultValueFactory = _ => 0.1 };
        var prompt = new Option<string>("--prompt-tokens") { Description = "Prompt length N or MIN..MAX.", DefaultValueFactory = _ => "16..128" };
        var output = new Option<string>("--output-tokens") { Description = "max_tokens N or MIN..MAX.", DefaultValueFactory = _ => "16..64" };
        var vocab = new Option<int>("--vocab") { Description = "Prompt token ids are drawn below this.", DefaultValueFactory = _ => 256 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1234 };
        var outDir = new Option<string>("--out") { Description = "Report folder.", DefaultValueFactory = _ => "artifacts/loadtest/run" };
        var quick = new Option<bool>("--quick") { Description = "30 s and at most 300 requests." };
        var cmd = new Command("run", "Drive a running server and report throughput, TTFT, latency, errors and cache hits.")
        {
            api, target, baseModel, metrics, mode, rate, concurrency, duration, maxRequests, adapters, adapterCount, alpha, baseShare, prompt, output, vocab, seed, outDir, quick,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            try
            {
                var door = parse.GetValue(api);
                var uri = LoopbackGuard.Check(parse.GetValue(target) ?? (door == LoadApi.OpenAi ? "http://127.0.0.1:8000/v1" : "http://127.0.0.1:50051"));
                string metricsText = parse.GetValue(metrics)!;
                Uri? metricsUri = metricsText.Length > 0 ? LoopbackGuard.Check(metricsText) : null;
                int n = parse.GetValue(adapterCount);
                var ids = n > 0
                    ? Enumerable.Range(0, n).Select(i => "a" + i.ToString("D4", CultureInfo.InvariantCulture)).ToList()
                    : parse.GetValue(adapters)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
                var workload = new WorkloadSpec
                {
                    AdapterIds = ids,
                    ZipfAlpha = parse.GetValue(alpha),
                    BaseShare = ids.Count == 0 ? 1 : parse.GetValue(baseShare),
                    PromptTokens = IntRange.Parse(parse.GetValue(prompt)!),
                    OutputTokens = IntRange.Parse(parse.GetValue(output)!),
                    VocabSize = parse.GetValue(vocab),
                    Seed = parse.GetValue(seed),
                };
                bool q = parse.GetValue(quick);
                var options = new LoadOptions
                {
                    Mode = parse.GetValue(mode),
                    Rate = parse.GetValue(rate),
                    Concurrency = parse.GetValue(concurrency),
                    Duration = TimeSpan.FromSeconds(q ? Math.Min(30, parse.GetValue(duration)) : parse.GetValue(duration)),
                    MaxRequests = q ? Math.Min(300, parse.GetValue(maxRequests)) : parse.GetValue(maxRequests),
                    WarmupAdapter = ids.Count > 0 ? ids[^1] : "",
                };
                var report = await RunOnceAsync(uri, metricsUri, workload, options, parse.GetValue(outDir)!, Console.Error, ct, door, parse.GetValue(baseModel)!);
                Console.WriteLine(RunMarkdown.Single(report));
                return report.Failed == 0 ? 0 : 2;
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException or HttpRequestException)
            {
                await Console.Error.WriteLineAsync($"error: {ex.Message}");
                return 1;
            }
        });
        return cmd;
    }

    /// <summary>One run against a server: load, counters from /metrics around the measured window, JSON + markdown + PNG.</summary>
    public static async Task<LoadReport> RunOnceAsync(Uri target, Uri? metricsUri, WorkloadSpec workload, LoadOptions options, string outDir,
        TextWriter? progress, CancellationToken ct, LoadApi api = LoadApi.Grpc, string baseModel = "")
    {
        using var http = new HttpClient();
        var loadBefore = MachineInfo.LoadAverage();
        ServerCounters? before = null;
        var steady = metricsUri is null ? null
            : new SteadyStateProbe(async token => (await ServerCounters.ScrapeAsync(http, metricsUri, token)).GeneratedTokens);
        var results = await new LoadRunner(target, progress, api, baseModel).RunAsync(workload, options, async () =>
        {
            if (metricsUri is not null) before = await ServerCounters.ScrapeAsync(http, metricsUri, ct);
        }, steady, ct);
        ServerCounters? delta = null;
        if (metricsUri is not null && before is not null) delta = (await ServerCounters.ScrapeAsync(http, metricsUri, ct)).Minus(before);
        string mode = options.Mode == LoadMode.Open
            ? string.Create(CultureInfo.InvariantCulture, $"open loop, Poisson {options.Rate} req/s")
            : $"closed loop, {options.Concurrency} clients";
        var report = LoadReport.From("run", target.ToString(), mode, ComparisonRunner.Describe(workload), results, delta, loadBefore, MachineInfo.LoadAverage(),
            steady?.OutputTokensPerSecond ?? double.NaN);
        Directory.CreateDirectory(outDir);
        ReportJson.Write(Path.Combine(outDir, "report.json"), new { report, requests = results });
        await File.WriteAllTextAsync(Path.Combine(outDir, "report.md"), RunMarkdown.Single(report), ct);
        RunPlot.Write(results, $"{mode}: {report.RequestsPerSecond:F2} req/s", Path.Combine(outDir, "latency.png"));
        return report;
    }

    private static Command ScaleOutCommand()
    {
        var replicas = new Option<int>("--replicas") { Description = "Replicas behind HAProxy.", DefaultValueFactory = _ => 3 };
        var adapterCount = new Option<int>("--adapters") { Description = "Distinct adapters (Zipf popularity).", DefaultValueFactory = _ => 48 };
        var hostCache = new Option<string>("--host-cache") { Description = "Host tier of every replica (default: about a third of the adapters).", DefaultValueFactory = _ => "4MiB" };
        var duration = new Option<double>("--duration") { Description = "Seconds of load per policy and for the failover run.", DefaultValueFactory = _ => 40 };
        var concurrency = new Option<int>("--concurrency") { Description = "Closed-loop clients.", DefaultValueFactory = _ => 12 };
        var quick = new Option<bool>("--quick") { Description = "20 s per run." };
        var work = new Option<string>("--work") { Description = "Generated model, adapters and replica logs.", DefaultValueFactory = _ => "artifacts/scale-out" };
        var outDir = new Option<string>("--out") { Description = "Report folder.", DefaultValueFactory = _ => "artifacts/scale-out/report" };
        var script = new Option<string>("--replicas-script") { Description = "deploy/local/replicas.sh of this checkout.", DefaultValueFactory = _ => "deploy/local/replicas.sh" };
        var cmd = new Command("scaleout", "Start replicas behind HAProxy (deploy/local/replicas.sh) and compare adapter affinity with round robin, then kill a replica mid-run.")
        {
            replicas, adapterCount, hostCache, duration, concurrency, quick, work, outDir, script,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            try
            {
                string workDir = Path.GetFullPath(parse.GetValue(work)!);
                // A small generated model (hidden 256, 2 layers): the comparison is about where adapters are loaded, so
                // the model only needs to be real, not big; 2 cores run three replicas of it.
                string modelDir = AssetWriter.EnsureModel(Path.Combine(workDir, "model"), hidden: 256, layers: 2);
                var set = AssetWriter.EnsureAdapters(modelDir, Path.Combine(workDir, "adapters"), parse.GetValue(adapterCount), [8, 16], copies: 4, seed: 11);
                var settings = new ScaleOut.ScaleOutSettings
                {
                    ModelDir = modelDir,
                    AdapterRoot = set.Root,
                    AdapterIds = set.Ids,
                    ReplicasScript = Path.GetFullPath(parse.GetValue(script)!),
                    WorkDir = Path.Combine(workDir, "runs"),
                    Replicas = parse.GetValue(replicas),
                    HostCache = parse.GetValue(hostCache)!,
                    Concurrency = parse.GetValue(concurrency),
                    Duration = TimeSpan.FromSeconds(parse.GetValue(quick) ? Math.Min(20, parse.GetValue(duration)) : parse.GetValue(duration)),
                };
                var (policies, failover) = await new ScaleOut.ScaleOutRunner(settings, Console.Error).RunAsync(ct);
                long adapterBytes = Model.Config.ModelConfig.Load(modelDir).LoraParametersPerRank * settings.TargetRank * sizeof(float);
                var result = new ScaleOut.ScaleOutResult("lorasqueeze-loadtest " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1)),
                    MachineInfo.Describe(), DateTimeOffset.UtcNow, settings, adapterBytes, policies, failover);
                var files = ScaleOut.ScaleOutReport.Write(result, parse.GetValue(outDir)!);
                Console.WriteLine(ScaleOut.ScaleOutReport.Markdown(result));
                foreach (var f in files) Console.Error.WriteLine($"wrote {f}");
                return 0;
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException or IOException or TimeoutException or HttpRequestException)
            {
                await Console.Error.WriteLineAsync($"error: {ex.Message}");
                return 1;
            }
        });
        return cmd;
    }

    private static Command RenderCommand()
    {
        var json = new Argument<string>("json") { Description = "A comparison-<model>.json written by compare." };
        var cmd = new Command("render", "Rewrite the markdown and PNGs of a comparison from its JSON (no new measurement).") { json };
        cmd.SetAction(parse =>
        {
            var path = parse.GetValue(json)!;
            var result = ComparisonReport.Read(path);
            var files = ComparisonReport.Write(result, Path.GetDirectoryName(Path.GetFullPath(path))!);
            Console.WriteLine(ComparisonReport.Markdown(result, Path.GetFileNameWithoutExtension(files[1])));
            return 0;
        });
        return cmd;
    }

    private static Command CompareCommand()
    {
        var model = new Option<string>("--model") { Description = "demo (what `lorasqueeze serve` serves), h1024 (generated, hidden 1024, 4 layers) or a model folder.", DefaultValueFactory = _ => "demo" };
        var quick = new Option<bool>("--quick") { Description = "2 rounds of 15 s windows, sweep 5 → N only, one adapter file per rank (about 5 minutes on h1024)." };
        var rounds = new Option<int?>("--rounds") { Description = "Interleaved base/ours/padded rounds (default 4, quick 2)." };
        var adapterCount = new Option<int>("--adapters") { Description = "Distinct adapters in the headline scenarios.", DefaultValueFactory = _ => 1000 };
        var duration = new Option<double?>("--duration") { Description = "Seconds per measured window (default 40, quick 15)." };
        var concurrency = new Option<int>("--concurrency") { Description = "Closed-loop clients.", DefaultValueFactory = _ => 16 };
        var targetRank = new Option<int>("--target-rank") { Description = "Our uniform rank.", DefaultValueFactory = _ => 16 };
        var work = new Option<string>("--work") { Description = "Generated assets and server logs.", DefaultValueFactory = _ => "artifacts/loadtest" };
        var outDir = new Option<string>("--out") { Description = "Report folder.", DefaultValueFactory = _ => "artifacts/loadtest/reports" };
        var launcher = new Option<string>("--launcher") { Description = "The lorasqueeze launcher.", DefaultValueFactory = _ => "./lorasqueeze" };
        var slotDType = new Option<string>("--slot-dtype") { Description = "Device slot dtype of every server: float32, bfloat16 or int8.", DefaultValueFactory = _ => "float32" };
        var hostCache = new Option<string>("--host-cache") { Description = "Host tier budget of every server.", DefaultValueFactory = _ => "6GiB" };
        var noPreload = new Option<bool>("--no-preload") { Description = "Do not fill the host tier before measuring: every adapter loads on first use." };
        var cmd = new Command("compare", "Start servers on loopback and compare ours (uniform), padded (vLLM/SGLang) and base-only, plus an adapter-count sweep.")
        {
            model, quick, adapterCount, duration, rounds, concurrency, targetRank, work, outDir, launcher, slotDType, hostCache, noPreload,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            try
            {
                bool q = parse.GetValue(quick);
                string which = parse.GetValue(model)!;
                string workDir = Path.GetFullPath(Path.Combine(parse.GetValue(work)!, Path.GetFileName(which.TrimEnd('/'))));
                string launcherPath = Path.GetFullPath(parse.GetValue(launcher)!);
                var (name, modelDir) = await ResolveModelAsync(which, workDir, launcherPath, ct);
                int maxRank = AssetWriter.MaxRank(modelDir);
                int[] ranks = [.. CandidateRanks.Where(r => r <= maxRank)];
                var settings = new ComparisonSettings
                {
                    ModelName = name,
                    ModelDir = modelDir,
                    WorkDir = workDir,
                    Launcher = launcherPath,
                    Adapters = parse.GetValue(adapterCount),
                    Sweep = q ? [5] : [5, 50, 200],
                    SourceRanks = ranks,
                    CopiesPerRank = q ? 1 : 4,
                    TargetRank = parse.GetValue(targetRank),
                    Concurrency = parse.GetValue(concurrency),
                    Duration = TimeSpan.FromSeconds(parse.GetValue(duration) ?? (q ? 15 : 40)),
                    Rounds = parse.GetValue(rounds) ?? (q ? 2 : 4),
                    WarmupDuration = TimeSpan.FromSeconds(q ? 10 : 20),
                    Quick = q,
                    SlotDType = parse.GetValue(slotDType)!,
                    HostCache = parse.GetValue(hostCache)!,
                    Preload = !parse.GetValue(noPreload),
                };
                string command = "lorasqueeze-loadtest " + string.Join(' ', Environment.GetCommandLineArgs().Skip(1));
                var result = await new ComparisonRunner(settings, Console.Error).RunAsync(command, ct);
                var files = ComparisonReport.Write(result, parse.GetValue(outDir)!);
                Console.WriteLine(ComparisonReport.Markdown(result, Path.GetFileNameWithoutExtension(files[1])));
                foreach (var f in files) Console.Error.WriteLine($"wrote {f}");
                return 0;
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidOperationException or IOException or TimeoutException)
            {
                await Console.Error.WriteLineAsync($"error: {ex.Message}");
                return 1;
            }
        });
        return cmd;
    }

    /// <summary>
    /// demo: the model <c>lorasqueeze serve</c> uses with no arguments (trained assets under models/demo/ when present,
    /// otherwise the generated one next to the program, written by one short-lived server start if missing);
    /// h1024: a generated random model with hidden size 1024 and 4 layers; anything else: a model folder.
    /// </summary>
    private static async Task<(string Name, string Dir)> ResolveModelAsync(string which, string workDir, string launcher, CancellationToken ct)
    {
        if (which == "h1024") return ("h1024", AssetWriter.EnsureModel(Path.Combine(workDir, "model"), hidden: 1024, layers: 4));
        if (which != "demo") return (Path.GetFileName(which.TrimEnd('/')), Path.GetFullPath(which));
        string trained = Path.GetFullPath(Path.Combine("models", "demo", "model"));
        if (File.Exists(Path.Combine(trained, "config.json"))) return ("demo", trained);
        string generated = Path.Combine(Path.GetDirectoryName(launcher)!, "artifacts", "cli", "demo", "model");
        if (!File.Exists(Path.Combine(generated, "config.json")))
        {
            Directory.CreateDirectory(workDir);
            await using var once = await ServerProcess.StartAsync(launcher, [], Path.Combine(workDir, "demo-setup.log"), TimeSpan.FromMinutes(10), ct);
        }
        return ("demo", generated);
    }
}
