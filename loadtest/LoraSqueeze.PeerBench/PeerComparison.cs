using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.LoadTest.Comparison;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Gguf;

namespace LoraSqueeze.PeerBench;

/// <summary>The comparison's settings (<c>lorasqueeze-peerbench compare</c>).</summary>
public sealed record ComparisonOptions
{
    /// <summary>h1024 (the load test's model: hidden 1024, 4 layers) or h2048 (hidden 2048, 8 layers).</summary>
    public string Shape { get; init; } = "h1024";
    public int Rounds { get; init; } = 2;
    public int Threads { get; init; } = 2;
    public int Prompt { get; init; } = 128;
    public int Generate { get; init; } = 32;
    public int Reps { get; init; } = 2;
    public double WarmupSeconds { get; init; } = 4;
    public int AdapterRank { get; init; } = 16;
    /// <summary>LoraSqueeze weight types to run (f32 always first).</summary>
    public IReadOnlyList<string> OurWeights { get; init; } = ["f32"];
    public required string Work { get; init; }
    public required string Output { get; init; }
}

/// <summary>
/// The side-by-side run: writes the model and eight rank-16 PEFT adapters (the load test's generator), exports them
/// to GGUF with the project's exporter (f32 and Q8_0 base, f32 LoRA), then per round runs one process per runtime and
/// weight type, alternating the order between rounds so neither side always runs on a warmer or quieter machine, and
/// writes the table. Each side is its own process: libtorch and llama.cpp each bring an OpenMP runtime and thread pool.
/// </summary>
public static class PeerComparison
{
    public static void Run(ComparisonOptions o, TextWriter log)
    {
        Directory.CreateDirectory(o.Work);
        TorchRuntime.EnsureInitialized();
        var (modelDir, set) = Workload.EnsureAssets(o.Work, o.Shape, o.AdapterRank);
        var adapterDirs = Enumerable.Range(0, 8).Select(k => Path.Combine(set.Root, "_pool", $"r{o.AdapterRank}-{k}")).ToList();
        string gguf = Path.Combine(o.Work, o.Shape, "gguf");
        Directory.CreateDirectory(gguf);
        var config = ModelConfig.Load(modelDir);
        string f32 = Path.Combine(gguf, "model-f32.gguf"), q8 = Path.Combine(gguf, "model-q8_0.gguf");
        if (!File.Exists(f32)) { log.WriteLine($"export {f32}"); GgufModelExporter.Export(modelDir, f32, GgufTensorType.F32); }
        if (!File.Exists(q8)) { log.WriteLine($"export {q8}"); GgufModelExporter.Export(modelDir, q8, GgufTensorType.Q8_0); }
        var loras = new List<string>();
        foreach (var dir in adapterDirs)
        {
            var path = Path.Combine(gguf, Path.GetFileName(dir) + ".gguf");
            if (!File.Exists(path))
            {
                var (w, _) = LoraSqueeze.Core.Squeeze.AdapterSqueezer.LoadAndSqueeze(dir, o.AdapterRank, new(), modelDir);
                using (w) GgufLoraExporter.Export(w, config, path);
            }
            loras.Add(path);
        }

        log.WriteLine($"measuring read bandwidth ({o.Threads} threads)");
        double bandwidth = MemoryBandwidth.ReadGBps(o.Threads);
        var results = new List<Measurement>();
        string self = typeof(PeerComparison).Assembly.Location;
        string Common(int round) => $"--threads {o.Threads} --prompt {o.Prompt} --gen {o.Generate} --reps {o.Reps} --warmup-seconds {o.WarmupSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture)} --round {round}";
        var sides = new List<(string Name, Func<int, string> Args)>();
        foreach (var wt in o.OurWeights)
            sides.Add(($"lorasqueeze {wt}", r => $"run --side lorasqueeze --model \"{modelDir}\" --adapters \"{string.Join(',', adapterDirs)}\" --rank {o.AdapterRank} --weights {wt} {Common(r)}"));
        sides.Add(("llama.cpp f32", r => $"run --side llama.cpp --model \"{f32}\" --adapters \"{string.Join(',', loras)}\" --weights f32 {Common(r)}"));
        sides.Add(("llama.cpp q8_0", r => $"run --side llama.cpp --model \"{q8}\" --adapters \"{string.Join(',', loras)}\" --weights q8_0 --tests prefill,b1,b8,b8-mixed-ctx {Common(r)}"));
        var started = Stopwatch.StartNew();
        for (int round = 1; round <= o.Rounds; round++)
        {
            var order = round % 2 == 1 ? sides : Enumerable.Reverse(sides).ToList();
            foreach (var (name, args) in order)
            {
                log.WriteLine($"[{started.Elapsed:mm\\:ss}] round {round}/{o.Rounds}: {name} (load {LoadAverage()})");
                results.AddRange(RunChild(self, args(round), log));
            }
        }
        File.WriteAllLines(Path.Combine(o.Work, $"results-{o.Shape}.jsonl"), results.Select(m => JsonSerializer.Serialize(m)));
        var weightBytes = WeightBytes(config);
        var report = PerformanceReport.Markdown(o, config, results, bandwidth, weightBytes, LoadAverage());
        var existing = File.Exists(o.Output) ? File.ReadAllText(o.Output) : "";
        File.WriteAllText(o.Output, PerformanceReport.ReplaceSection(existing, o.Shape, report));
        log.WriteLine($"wrote {o.Output} ({results.Count} measurements, {started.Elapsed.TotalMinutes:F1} min)");
    }

    /// <summary>Bytes of the weights one decode step reads: every projection and the LM head (float32).</summary>
    public static double WeightBytes(ModelConfig c)
    {
        double perLayer = (double)c.HiddenSize * (c.NumAttentionHeads * c.HeadDim) * 2          // q, o
            + (double)c.HiddenSize * (c.NumKvHeads * c.HeadDim) * 2                               // k, v
            + 3.0 * c.HiddenSize * c.IntermediateSize;                                            // gate, up, down
        return 4.0 * (perLayer * c.NumHiddenLayers + (double)c.VocabSize * c.HiddenSize);
    }

    private static List<Measurement> RunChild(string dll, string args, TextWriter log)
    {
        var psi = new ProcessStartInfo("dotnet", $"\"{dll}\" {args}") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start the benchmark process");
        var err = p.StandardError.ReadToEndAsync();
        var lines = new List<Measurement>();
        while (p.StandardOutput.ReadLine() is { } line)
        {
            if (!line.StartsWith('{')) continue;
            lines.Add(JsonSerializer.Deserialize<Measurement>(line)!);
        }
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"benchmark process failed ({p.ExitCode}): {args}\n{err.Result}");
        return lines;
    }

    private static string LoadAverage() =>
        File.Exists("/proc/loadavg") ? string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3)) : "n/a";
}
