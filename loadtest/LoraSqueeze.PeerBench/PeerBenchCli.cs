using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model;

namespace LoraSqueeze.PeerBench;

/// <summary>
/// <c>lorasqueeze-peerbench compare --shape h1024|h2048 [--rounds 2] [--threads 2] [--weights f32,...] [--out docs/performance.md]</c>:
/// the side-by-side run and its table. <c>lorasqueeze-peerbench run --side lorasqueeze|llama.cpp ...</c>: one runtime's
/// measurements as JSON lines (what <c>compare</c> starts per round).
/// </summary>
public static class PeerBenchCli
{
    public static RootCommand Build()
    {
        var root = new RootCommand("LoraSqueeze against llama.cpp (LLamaSharp) on the same CPU, model and prompts.");
        var threads = new Option<int>("--threads") { Description = "Threads per runtime.", DefaultValueFactory = _ => 2 };
        var prompt = new Option<int>("--prompt") { Description = "Prompt tokens per request.", DefaultValueFactory = _ => 128 };
        var gen = new Option<int>("--gen") { Description = "Greedy tokens generated per request.", DefaultValueFactory = _ => 32 };
        var reps = new Option<int>("--reps") { Description = "Timed repetitions per test (after the warm-up).", DefaultValueFactory = _ => 2 };
        var warmup = new Option<double>("--warmup-seconds") { Description = "Unreported runs of each test, repeated for at least this long (both runtimes).", DefaultValueFactory = _ => 4 };
        var weights = new Option<string>("--weights") { Description = "Weight type(s): LoraSqueeze f32 (run: one; compare: a list); llama.cpp f32 or q8_0 (a label for the GGUF).", DefaultValueFactory = _ => "f32" };

        var shape = new Option<string>("--shape") { Description = "h1024 or h2048.", DefaultValueFactory = _ => "h1024" };
        var rounds = new Option<int>("--rounds") { Description = "Rounds (each: one process per runtime and weight type, order alternating).", DefaultValueFactory = _ => 2 };
        var work = new Option<string>("--work") { Description = "Scratch folder for models, GGUF files and raw results.", DefaultValueFactory = _ => "artifacts/peerbench" };
        var output = new Option<string>("--out") { Description = "Markdown file whose section for this shape is (re)written.", DefaultValueFactory = _ => "docs/performance.md" };
        var compare = new Command("compare", "Run both runtimes side by side and write the table.") { shape, rounds, threads, prompt, gen, reps, warmup, weights, work, output };
        compare.SetAction(parse =>
        {
            PeerComparison.Run(new ComparisonOptions
            {
                Shape = parse.GetValue(shape)!, Rounds = parse.GetValue(rounds), Threads = parse.GetValue(threads), Prompt = parse.GetValue(prompt),
                Generate = parse.GetValue(gen), Reps = parse.GetValue(reps), WarmupSeconds = parse.GetValue(warmup), OurWeights = parse.GetValue(weights)!.Split(',', StringSplitOptions.RemoveEmptyEntries),
                Work = Path.GetFullPath(parse.GetValue(work)!), Output = Path.GetFullPath(parse.GetValue(output)!),
            }, Console.Error);
            return 0;
        });
        root.Subcommands.Add(compare);

        var seconds = new Option<int>("--seconds") { Description = "Seconds per window.", DefaultValueFactory = _ => 30 };
        var serveOut = new Option<string>("--out") { Description = "Markdown file for the table.", DefaultValueFactory = _ => "artifacts/peerbench/serve.md" };
        var serveShape = new Option<string>("--shape") { Description = "h1024 or h2048.", DefaultValueFactory = _ => "h1024" };
        var serveRounds = new Option<int>("--rounds") { Description = "Rounds (each: one in-process and one server window, order alternating).", DefaultValueFactory = _ => 2 };
        var serveWork = new Option<string>("--work") { Description = "Scratch folder for models and adapters.", DefaultValueFactory = _ => "artifacts/peerbench" };
        var serveWeights = new Option<string>("--weights") { Description = "f32, int8, w8a8 or bf16.", DefaultValueFactory = _ => "f32" };
        var serveThreads = new Option<int>("--threads") { Description = "Threads (in process; the server uses all cores).", DefaultValueFactory = _ => 2 };
        var launcher = new Option<string>("--launcher") { Description = "The lorasqueeze launcher that starts the server.", DefaultValueFactory = _ => "./lorasqueeze" };
        var serve = new Command("serve", "The server's overhead: the same 8-adapter requests in process and through lorasqueeze serve.")
        {
            serveShape, serveRounds, seconds, serveWeights, serveThreads, serveWork, serveOut, launcher,
        };
        serve.SetAction(async (parse, ct) =>
        {
            await ServeComparison.RunAsync(new ServeComparisonOptions
            {
                Shape = parse.GetValue(serveShape)!, Rounds = parse.GetValue(serveRounds), Seconds = parse.GetValue(seconds),
                Weights = parse.GetValue(serveWeights)!, Threads = parse.GetValue(serveThreads),
                Work = Path.GetFullPath(parse.GetValue(serveWork)!), Output = Path.GetFullPath(parse.GetValue(serveOut)!),
                Launcher = Path.GetFullPath(parse.GetValue(launcher)!),
            }, Console.Error, ct);
            return 0;
        });
        root.Subcommands.Add(serve);

        var side = new Option<string>("--side") { Description = "lorasqueeze or llama.cpp.", Required = true };
        var model = new Option<string>("--model") { Description = "Model folder (lorasqueeze) or GGUF file (llama.cpp).", Required = true };
        var adapters = new Option<string>("--adapters") { Description = "Comma-separated adapter folders (lorasqueeze) or LoRA GGUF files (llama.cpp).", DefaultValueFactory = _ => "" };
        var rank = new Option<int>("--rank") { Description = "Slot rank the adapters are squeezed to (lorasqueeze).", DefaultValueFactory = _ => 16 };
        var round = new Option<int>("--round") { Description = "Round number recorded in the output.", DefaultValueFactory = _ => 1 };
        var tests = new Option<string?>("--tests") { Description = "Comma-separated tests (default: all of the side's)." };
        var unfused = new Option<bool>("--unfused") { Description = "LoraSqueeze: run q/k/v and gate/up projection by projection (the reference) instead of one GEMM region each." };
        var run = new Command("run", "One runtime's measurements as JSON lines on stdout.") { side, model, adapters, rank, weights, threads, prompt, gen, reps, warmup, round, tests, unfused };
        run.SetAction(parse =>
        {
            var list = parse.GetValue(adapters)!.Split(',', StringSplitOptions.RemoveEmptyEntries);
            int t = parse.GetValue(threads), p = parse.GetValue(prompt), g = parse.GetValue(gen), n = parse.GetValue(reps), r = parse.GetValue(round);
            string wt = parse.GetValue(weights)!;
            Func<string, int, int, string, int, int, Measurement> measure;
            IDisposable owner;
            string[] defaults;
            if (parse.GetValue(side) == "lorasqueeze")
            {
                TorchRuntime.EnsureInitialized(t);
                var ours = new LoraSqueezeRuntime(parse.GetValue(model)!, list, parse.GetValue(rank), t, OurOptions(wt));
                if (parse.GetValue(unfused)) ours.Model.SetFusedProjections(false);
                (measure, owner, defaults) = (ours.Run, ours, Workload.OurTests);
            }
            else if (parse.GetValue(side) == "llama.cpp")
            {
                var theirs = new LlamaCppRuntime(parse.GetValue(model)!, list, t);
                (measure, owner, defaults) = (theirs.Run, theirs, Workload.LlamaTests);
            }
            else
            {
                throw new ArgumentException($"--side must be lorasqueeze or llama.cpp, got '{parse.GetValue(side)}'");
            }
            using (owner)
            {
                foreach (var test in parse.GetValue(tests)?.Split(',') ?? defaults)
                {
                    // Warm-up runs, not reported, for at least --warmup-seconds and three runs: .NET's tiered JIT
                    // recompiles the kernels' loops with full optimisation only after a quiet 100 ms without new tier-0
                    // methods, so one 32-step warm-up left the first timed run of a batch-1 decode at tier-0 speed
                    // (measured: 8–10 ms a step in reps 1–2, 5 ms from rep 3 on). llama.cpp gets the same warm-up.
                    var warm = System.Diagnostics.Stopwatch.StartNew();
                    for (int k = 0; k < 3 || warm.Elapsed.TotalSeconds < parse.GetValue(warmup); k++) measure(test, p, g, wt, r, 0);
                    for (int k = 0; k < n; k++) Console.WriteLine(JsonSerializer.Serialize(measure(test, p, g, wt, r, k)));
                }
            }
            return 0;
        });
        root.Subcommands.Add(run);

        var bandwidthThreads = new Option<int>("--threads") { Description = "Reading threads.", DefaultValueFactory = _ => 2 };
        var bandwidth = new Command("bandwidth", "The read bandwidth compare divides the weight bytes by (GB/s, best of five passes over 1 GiB).") { bandwidthThreads };
        bandwidth.SetAction(parse =>
        {
            Console.WriteLine(FormattableString.Invariant($"{MemoryBandwidth.ReadGBps(parse.GetValue(bandwidthThreads)):F1} GB/s"));
            return 0;
        });
        root.Subcommands.Add(bandwidth);
        return root;
    }

    /// <summary>LoraSqueeze's load options for a base weight type (serve --weight-dtype).</summary>
    public static ModelLoadOptions OurOptions(string weights) => weights switch
    {
        "f32" => new ModelLoadOptions(),
        "bf16" => new ModelLoadOptions { WeightDType = TorchSharp.torch.ScalarType.BFloat16 },
        "int8" => new ModelLoadOptions { WeightDType = TorchSharp.torch.ScalarType.Int8 },
        // int8 weights × int8 activations (serve --weight-dtype int8 --activation-dtype int8): llama.cpp Q8_0's scheme.
        "w8a8" => new ModelLoadOptions { WeightDType = TorchSharp.torch.ScalarType.Int8, Int8Activations = true },
        _ => throw new ArgumentException($"LoraSqueeze weight type '{weights}' is not one of f32, bf16, int8, w8a8"),
    };
}
