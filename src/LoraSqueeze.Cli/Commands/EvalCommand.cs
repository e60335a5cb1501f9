using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoraSqueeze.Cli.Plotting;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Training.Corpora;
using LoraSqueeze.Training.Squeeze;
using TorchSharp;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze eval --model DIR --adapter DIR --ranks 4,8,16 (--data FILE | --corpus NAME) [--json] [--plot PNG]</c>:
/// what squeezing to each rank costs in outputs (<see cref="SqueezeFidelity"/>): mean KL to the adapter applied
/// exactly, perplexity of both, top-1 agreement, retained energy, with the base model as the floor. <c>--adapter</c>
/// may be a folder of adapter folders (each measured in name order; one table each, one plot for all, a JSON list), and
/// <c>--corpus {adapter}</c> then measures each on the corpus named like its folder (its own domain).
/// </summary>
public static class EvalCommand
{
    public static void Attach(RootCommand root)
    {
        var model = new Option<string>("--model") { Description = "Base model folder.", Required = true };
        var adapter = new Option<string>("--adapter") { Description = "Adapter folder (any kind the squeeze reads).", Required = true };
        var ranks = new Option<string>("--ranks") { Description = "Ranks to squeeze to, comma-separated.", DefaultValueFactory = _ => "2,4,8,16,32" };
        var data = new Option<string?>("--data") { Description = "Held-out text file (UTF-8)." };
        var corpus = new Option<string?>("--corpus") { Description = "A corpus by name (lorasqueeze corpus list): its held-out split; {adapter}: the corpus named like each adapter's folder." };
        var window = new Option<int>("--window") { Description = "Tokens per evaluation window.", DefaultValueFactory = _ => 64 };
        var windows = new Option<int>("--windows") { Description = "Windows at most.", DefaultValueFactory = _ => 32 };
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of KL and top-1 agreement against rank." };
        var cmd = new Command("eval", "Measure what squeezing an adapter to each rank costs in outputs (KL, perplexity, top-1 agreement) on held-out text.")
        {
            model, adapter, ranks, data, corpus, window, windows, json, plot,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            string? file = parse.GetValue(data), corpusName = parse.GetValue(corpus);
            var dirs = AdapterFolders(parse.GetValue(adapter)!);
            var rankList = parse.GetValue(ranks)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(r => int.TryParse(r, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v
                    : throw new ArgumentException($"--ranks: '{r}' is not a positive integer")).Distinct().Order().ToList();
            if (parse.GetValue(window) < 2) throw new ArgumentException("--window must be at least 2 tokens");
            var results = new List<FidelityResult>();
            bool perAdapter = corpusName?.Contains("{adapter}", StringComparison.Ordinal) == true;
            string? shared = perAdapter ? null : HeldOutText(file, corpusName);   // read once unless each adapter has its own
            foreach (var dir in dirs)
            {
                // {adapter}: each adapter on its own domain's held-out text.
                string text = shared ?? HeldOutText(file, corpusName!.Replace("{adapter}", Path.GetFileName(dir), StringComparison.Ordinal));
                if (dirs.Count > 1 && !parse.GetValue(json)) Console.Error.WriteLine($"eval: {Path.GetFileName(dir)} ({results.Count + 1}/{dirs.Count})");
                results.Add(Run(parse.GetValue(model)!, dir, rankList, text, parse.GetValue(window), parse.GetValue(windows),
                    parse.GetValue(json) ? null : Console.Error));
            }
            if (parse.GetValue(plot) is { } png)
            {
                if (results.Count == 1) FidelityPlot.Write(results[0], png);
                else FidelityPlot.WriteMany(results, png);
            }
            if (parse.GetValue(json))
                Console.WriteLine(results.Count == 1 ? JsonSerializer.Serialize(results[0], CliJson.Options) : JsonSerializer.Serialize(results, CliJson.Options));
            else results.ForEach(Print);
            return 0;
        }));
        root.Subcommands.Add(cmd);
    }

    /// <summary>An adapter folder, or every adapter folder inside a folder (name order).</summary>
    /// <summary>An adapter folder, or the adapter folders inside one (name order); refused by name when there are none.</summary>
    public static List<string> AdapterFolders(string path)
    {
        if (File.Exists(Path.Combine(path, "adapter_config.json"))) return [path];
        if (!Directory.Exists(path)) throw new ArgumentException($"--adapter {path}: no such folder");
        var dirs = Directory.GetDirectories(path).Where(d => File.Exists(Path.Combine(d, "adapter_config.json"))).Order(StringComparer.Ordinal).ToList();
        return dirs.Count > 0 ? dirs : throw new ArgumentException($"--adapter {path}: no adapter_config.json in it or in its sub-folders");
    }

    /// <summary>The text of <c>--data FILE</c> or of corpus <c>--corpus NAME</c>'s held-out split (exactly one of them).</summary>
    public static string HeldOutText(string? file, string? corpus)
    {
        if ((file is null) == (corpus is null)) throw new ArgumentException("give one of --data FILE or --corpus NAME");
        return file is not null
            ? (File.Exists(file) ? File.ReadAllText(file) : throw new ArgumentException($"--data {file}: no such file"))
            : string.Join("\n", CorpusSplit.Split(CorpusCatalog.Get(corpus!).Read().ToList()).Eval.Select(e => e.Prompt + e.Completion));
    }

    public static FidelityResult Run(string modelDir, string adapterDir, IReadOnlyList<int> ranks, string text, int window, int maxWindows, TextWriter? progress)
    {
        TorchRuntime.EnsureInitialized();
        var tokenizer = TokenizerLoader.FromDirectory(modelDir);
        var tokens = tokenizer.Encode(text, addSpecialTokens: false);
        var windows = SqueezeFidelity.Windows(tokens, window, maxWindows);
        using var loaded = AdapterReader.Read(adapterDir, modelDir);
        using var model = CausalLM.Load(modelDir, torch.CPU, new ModelLoadOptions { AdapterRank = 1, AdapterSlots = 1 });
        int lastShown = -1;
        return SqueezeFidelity.Measure(model, loaded, windows, ranks, new SqueezeOptions(), (done, total) =>
        {
            int percent = done * 100 / total;
            if (progress is null || percent / 10 == lastShown) return;
            lastShown = percent / 10;
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  eval: {done}/{total} windows ({percent} %)"));
        });
    }

    private static void Print(FidelityResult r)
    {
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Create(inv, $"{r.Adapter} ({r.Kind}): {r.Windows} windows, {r.Positions} positions"));
        Console.WriteLine(string.Create(inv, $"  base model: perplexity {r.BasePerplexity:F3}, KL to the exact adapter {r.BaseKl:E3}"));
        Console.WriteLine(string.Create(inv, $"  exact adapter: perplexity {r.ExactPerplexity:F3}"));
        Console.WriteLine("  rank  mean KL      perplexity  top-1 agree  mean energy  min energy");
        foreach (var row in r.Rows)
            Console.WriteLine(string.Create(inv, $"  {row.Rank,4}  {row.MeanKl,-11:E3}  {row.Perplexity,10:F3}  {row.Top1Agreement,11:P1}  {row.MeanRetainedEnergy,11:P2}  {row.MinRetainedEnergy,10:P2}"));
        Console.WriteLine("  (energy: Σ kept σ² / ‖ΔW‖²_F per module, mean and minimum over modules; KL in nats per token)");
    }
}
