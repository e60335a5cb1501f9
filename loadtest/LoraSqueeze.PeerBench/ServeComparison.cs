using System.Globalization;
using System.Text;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.LoadTest.Comparison;
using LoraSqueeze.LoadTest.Reporting;
using LoraSqueeze.LoadTest.Running;
using LoraSqueeze.LoadTest.Workload;

namespace LoraSqueeze.PeerBench;

/// <summary>The server-overhead run's settings (<c>lorasqueeze-peerbench serve</c>).</summary>
public sealed record ServeComparisonOptions
{
    public string Shape { get; init; } = "h1024";
    public int Rounds { get; init; } = 2;
    public int Seconds { get; init; } = 30;
    public int Threads { get; init; } = 2;
    public string Weights { get; init; } = "f32";
    public required string Work { get; init; }
    public required string Output { get; init; }
    /// <summary>The <c>lorasqueeze</c> launcher that starts the server (the repository's <c>./lorasqueeze</c>).</summary>
    public required string Launcher { get; init; }
}

/// <summary>
/// What the server costs on top of its engine's maths: the same work — 8 requests at a time on 8 different adapters,
/// prompts of 128 tokens, 32 greedy output tokens — run (a) in process on the model runtime (the 8 prefills as one
/// forward, then 32 batched decode steps; <see cref="LoraSqueezeRuntime"/>) and (b) through <c>lorasqueeze serve
/// --max-batch 8</c> by the load generator's closed loop of 8 gRPC clients (steady output tokens per second, from the
/// server's own counter). Rounds alternate the two. The gap is the engine loop, scheduling, sampling, detokenising,
/// channels and gRPC (issue 14).
/// </summary>
public static class ServeComparison
{
    public static async Task RunAsync(ServeComparisonOptions o, TextWriter log, CancellationToken ct = default)
    {
        TorchRuntime.EnsureInitialized(o.Threads);
        var (modelDir, set) = Workload.EnsureAssets(o.Work, o.Shape, 16);
        var adapterDirs = set.Ids.Select(id => Path.Combine(set.Root, id)).ToList();
        string launcher = File.Exists(o.Launcher) ? o.Launcher : throw new FileNotFoundException($"{o.Launcher}: the lorasqueeze launcher is not there (--launcher)", o.Launcher);
        var inProcess = new List<double>();
        var served = new List<LoadReport>();
        string[] serveArgs =
        [
            "--model", modelDir, "--adapters", set.Root, "--max-batch", "8", "--target-rank", "16", "--slots", "16",
            "--host-cache", "2GiB",
            .. o.Weights switch
            {
                "f32" => ["--weight-dtype", "float32"],
                "bf16" => ["--weight-dtype", "bfloat16"],
                "w8a8" => ["--weight-dtype", "int8", "--activation-dtype", "int8"],
                _ => new[] { "--weight-dtype", o.Weights },
            },
        ];
        log.WriteLine($"starting {launcher} serve ({string.Join(' ', serveArgs)})");
        var serverLog = Path.Combine(o.Work, $"serve-{o.Shape}.log");
        await using var server = await ServerProcess.StartAsync(launcher, serveArgs, serverLog, TimeSpan.FromMinutes(5), ct);
        using var runtime = new LoraSqueezeRuntime(modelDir, adapterDirs, 16, o.Threads, PeerBenchCli.OurOptions(o.Weights));
        var workload = new WorkloadSpec
        {
            AdapterIds = set.Ids, ZipfAlpha = 0, BaseShare = 0, PromptTokens = new IntRange(128, 128), OutputTokens = new IntRange(32, 32),
            ExactOutputTokens = true,   // min_tokens = 32: EOS cannot end a served request early, as the in-process run never stops early
            VocabSize = Math.Min(256, runtime.Vocab), Seed = 7,
        };
        for (int round = 1; round <= o.Rounds; round++)
        {
            async Task Served()
            {
                log.WriteLine($"round {round}: server, {o.Seconds} s closed loop, 8 clients");
                var options = new LoadOptions { Mode = LoadMode.Closed, Concurrency = 8, Duration = TimeSpan.FromSeconds(o.Seconds), WarmupRequests = 8, ProgressInterval = TimeSpan.FromSeconds(60) };
                served.Add(await ComparisonRunner.MeasureClosedLoopAsync(server, "serve", workload, options, null, ct));
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  → {served[^1].ComparedTokensPerSecond:F1} tok/s steady, {served[^1].OutputTokens / (double)Math.Max(1, served[^1].Succeeded):F1} output tokens per request"));
            }
            void InProcess()
            {
                log.WriteLine($"round {round}: in process, 8 requests × (128-token prefill + 31 steps), repeated for {o.Seconds} s");
                var until = DateTime.UtcNow.AddSeconds(o.Seconds);
                // The server's 32 output tokens: the prefill's token, then 31 batched steps.
                double Once()
                {
                    var m = runtime.Run("b8-mixed", 128, 31, o.Weights, round, 0);
                    return 8 * 32 / ((m.PrefillMs + m.Milliseconds) / 1000);
                }
                Once();   // warm-up
                do inProcess.Add(Once());   // at least one measured repetition, however short the window
                while (DateTime.UtcNow < until);
                log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  → {Workload.Median(inProcess):F1} tok/s so far (median)"));
            }
            if (round % 2 == 1) { InProcess(); await Served(); }
            else { await Served(); InProcess(); }
        }
        File.WriteAllText(o.Output, Markdown(o, inProcess, served));
        log.WriteLine($"wrote {o.Output}");
    }

    private static string Markdown(ServeComparisonOptions o, List<double> inProcess, List<LoadReport> served)
    {
        var inv = CultureInfo.InvariantCulture;
        double a = Workload.Median(inProcess), b = Workload.Median(served.Select(s => s.ComparedTokensPerSecond));
        var sb = new StringBuilder();
        sb.AppendLine(inv, $"| {o.Shape}, {o.Weights}, 8 requests on 8 adapters, prompt 128, 32 output tokens | tok/s |");
        sb.AppendLine("|---|---|");
        sb.AppendLine(inv, $"| in process (model runtime: prefill of the 8 prompts, then 31 batched steps: 32 tokens each, {inProcess.Count} repetitions, median) | {a:F1} |");
        sb.AppendLine(inv, $"| `lorasqueeze serve --max-batch 8`, 8 gRPC clients, closed loop ({served.Count} windows of {o.Seconds} s, steady, median; per window {string.Join(", ", served.Select(s => s.ComparedTokensPerSecond.ToString("F1", inv)))}) | {b:F1} |");
        sb.AppendLine(inv, $"| server / in process | **{b / a:F2}** |");
        sb.AppendLine();
        sb.AppendLine(inv, $"Mean output tokens per served request: {string.Join(", ", served.Select(s => (s.OutputTokens / (double)Math.Max(1, s.Succeeded)).ToString("F1", inv)))} (requests ask min_tokens = max_tokens = 32, so EOS cannot end one early); mean batch per server step: {string.Join(", ", served.Select(s => s.Server?.MeanBatch.ToString("F2", inv) ?? "–"))}.");
        return sb.ToString();
    }
}
