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
/// exactly, perplexity of both, top-1 agreement, retained energy, with the base model as the floor.
/// </summary>
public static class EvalCommand
{
    public static void Attach(RootCommand root)
    {
        var model = new Option<string>("--model") { Description = "Base model folder.", Required = true };
        var adapter = new Option<string>("--adapter") { Description = "Adapter folder (any kind the squeeze reads).", Required = true };
        var ranks = new Option<string>("--ranks") { Description = "Ranks to squeeze to, comma-separated.", DefaultValueFactory = _ => "2,4,8,16,32" };
        var data = new Option<string?>("--data") { Description = "Held-out text file (UTF-8)." };
        var corpus = new Option<string?>("--corpus") { Description = "A corpus by name (lorasqueeze corpus list): its held-out split." };
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
            string text = HeldOutText(parse.GetValue(data), parse.GetValue(corpus));
            var rankList = parse.GetValue(ranks)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(r => int.TryParse(r, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v > 0 ? v
                    : throw new ArgumentException($"--ranks: '{r}' is not a positive integer")).Distinct().Order().ToList();
            if (parse.GetValue(window) < 2) throw new ArgumentException("--window must be at least 2 tokens");
            var result = Run(parse.GetValue(model)!, parse.GetValue(adapter)!, rankList, text, parse.GetValue(window), parse.GetValue(windows),
                parse.GetValue(json) ? null : Console.Error);
            if (parse.GetValue(plot) is { } png) FidelityPlot.Write(result, png);
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(result, CliJson.Options));
            else Print(result);
            return 0;
        }));
        root.Subcommands.Add(cmd);
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
