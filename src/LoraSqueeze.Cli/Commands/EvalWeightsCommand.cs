using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model.Lora;
using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Training.Squeeze;
using static TorchSharp.torch;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze eval-weights --model DIR [--adapter DIR|FOLDER --rank R] (--data FILE | --corpus NAME)
/// [--weight-dtypes bfloat16,int8,w8a8] [--json]</c>: what serving with base weights stored as bfloat16 or int8
/// (<c>serve --weight-dtype</c>), or int8 weights with int8 activations (w8a8: <c>--activation-dtype int8</c>), costs against float32, for the base model and each adapter
/// (<see cref="WeightTypeFidelity"/>).
/// </summary>
public static class EvalWeightsCommand
{
    public static void Attach(RootCommand root)
    {
        var model = new Option<string>("--model") { Description = "Base model folder.", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "Adapter folder, or a folder of adapter folders, measured on top of each weight type." };
        var rank = new Option<int>("--rank") { Description = "Rank the adapters are squeezed to.", DefaultValueFactory = _ => 8 };
        var dtypes = new Option<string>("--weight-dtypes") { Description = "Base weight types to compare with float32, comma-separated: bfloat16, int8, w8a8 (int8 weights × int8 activations).", DefaultValueFactory = _ => "bfloat16,int8,w8a8" };
        var data = new Option<string?>("--data") { Description = "Held-out text file (UTF-8)." };
        var corpus = new Option<string?>("--corpus") { Description = "A corpus by name (lorasqueeze corpus list): its held-out split." };
        var window = new Option<int>("--window") { Description = "Tokens per evaluation window.", DefaultValueFactory = _ => 64 };
        var windows = new Option<int>("--windows") { Description = "Windows at most.", DefaultValueFactory = _ => 16 };
        var greedy = new Option<int>("--greedy-tokens") { Description = "Greedy tokens generated per window for the greedy agreement.", DefaultValueFactory = _ => 32 };
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var cmd = new Command("eval-weights", "Measure what bfloat16, int8 or w8a8 base weights cost against float32 (KL, top-1 and greedy agreement, perplexity).")
        {
            model, adapter, rank, dtypes, data, corpus, window, windows, greedy, json,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            TorchRuntime.EnsureInitialized();
            string modelDir = parse.GetValue(model)!;
            var types = parse.GetValue(dtypes)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(t => t == "w8a8" ? new BaseWeightType(ScalarType.Int8, Int8Activations: true) : new BaseWeightType(SlotDTypes.Parse(t, "--weight-dtypes")))
                .Where(t => t.Storage != ScalarType.Float32).Distinct().ToList();
            if (types.Count == 0) throw new ArgumentException("--weight-dtypes: give bfloat16, int8 and/or w8a8 (float32 is the reference)");
            if (parse.GetValue(window) < 4) throw new ArgumentException("--window must be at least 4 tokens");
            var text = EvalCommand.HeldOutText(parse.GetValue(data), parse.GetValue(corpus));
            var tokens = TokenizerLoader.FromDirectory(modelDir).Encode(text, addSpecialTokens: false);
            var wins = SqueezeFidelity.Windows(tokens, parse.GetValue(window), parse.GetValue(windows));
            var cases = new List<(string Name, LoraWeights? Adapter)> { ("base model", null) };
            try
            {
                if (parse.GetValue(adapter) is { } path)
                {
                    var dirs = EvalCommand.AdapterFolders(path);
                    foreach (var d in dirs)
                        cases.Add((Path.GetFileName(d), AdapterSqueezer.LoadAndSqueeze(d, parse.GetValue(rank), new SqueezeOptions(), modelDir).Weights));
                }
                var progress = parse.GetValue(json) ? null : new Action<string>(s => Console.Error.WriteLine($"eval-weights: {s}"));
                var rows = WeightTypeFidelity.Measure(modelDir, cases, types, wins, parse.GetValue(rank), parse.GetValue(greedy), progress);
                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(rows, CliJson.Options));
                    return 0;
                }
                var inv = CultureInfo.InvariantCulture;
                Console.WriteLine(string.Create(inv, $"{wins.Count} windows of {parse.GetValue(window)} tokens; greedy agreement over {parse.GetValue(greedy)} tokens from each window's first half"));
                Console.WriteLine("| case | weights | mean KL (nats/token) | top-1 agreement | greedy agreement | perplexity | float32 perplexity |");
                Console.WriteLine("|---|---|---|---|---|---|---|");
                foreach (var r in rows)
                    Console.WriteLine(string.Create(inv, $"| {r.Case} | {r.WeightType} | {r.MeanKl:E2} | {r.Top1Agreement:P1} | {r.GreedyAgreement:P1} | {r.Perplexity:F3} | {r.Float32Perplexity:F3} |"));
                return 0;
            }
            finally
            {
                foreach (var c in cases) c.Adapter?.Dispose();
            }
        }));
        root.Subcommands.Add(cmd);
    }
}
