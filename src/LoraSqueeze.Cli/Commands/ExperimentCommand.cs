using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using LoraSqueeze.Cli.Plotting;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Training.Corpora;
using LoraSqueeze.Training.Runs;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze experiment</c>: the LoRA-Squeeze miniature on the demo base model; writes docs/experiments.md, a PNG
/// plot and the raw results as JSON.
/// </summary>
public static class ExperimentCommand
{
    public static void Attach(RootCommand root)
    {
        var d = new ExperimentOptions { ModelDir = "", CorporaDir = "", WorkDir = "" };
        var model = new Option<string>("--model") { Description = "Base model folder.", DefaultValueFactory = _ => "models/demo/model" };
        var corpora = new Option<string>("--corpora") { Description = "Corpus folder (extracted if a task is missing).", DefaultValueFactory = _ => "out/corpora" };
        var work = new Option<string>("--work") { Description = "Folder for the runs' adapters and checkpoints.", DefaultValueFactory = _ => "out/experiment" };
        var docs = new Option<string>("--docs") { Description = "Markdown report to write.", DefaultValueFactory = _ => "docs/experiments.md" };
        var tasks = new Option<string[]>("--tasks") { Description = "Corpus names used as tasks.", DefaultValueFactory = _ => [.. d.Tasks], AllowMultipleArgumentsPerToken = true };
        var ranks = new Option<int[]>("--ranks") { Description = "Target ranks.", DefaultValueFactory = _ => [.. d.TargetRanks], AllowMultipleArgumentsPerToken = true };
        var source = new Option<int>("--source-rank") { DefaultValueFactory = _ => d.SourceRank };
        var steps = new Option<int>("--steps") { Description = "Update steps of every method.", DefaultValueFactory = _ => d.Steps };
        var recover = new Option<int>("--recover-steps") { Description = "Cont-Squeeze's extra steps.", DefaultValueFactory = _ => d.RecoverSteps };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => d.Lr };
        var directLrs = new Option<double[]>("--direct-lrs") { Description = "Extra lrs tried for the direct baseline (best kept as direct-tuned).", DefaultValueFactory = _ => [.. d.DirectLrSweep], AllowMultipleArgumentsPerToken = true };
        var scaling = new Option<string>("--scaling")
        {
            Description = "LoRA scale rule: alpha-r (α = r, s = 1), rslora (s = α/√r) or fixed-alpha (s = α/r); with the last two a squeeze keeps ΔW and trains on at the rule's scale.",
            DefaultValueFactory = _ => "alpha-r",
        };
        scaling.AcceptOnlyFromAmong("alpha-r", "rslora", "fixed-alpha");
        var alpha = new Option<double>("--alpha") { Description = "α for rslora and fixed-alpha.", DefaultValueFactory = _ => d.Alpha };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => d.BatchSize };
        var seqLen = new Option<int>("--seq-len") { DefaultValueFactory = _ => d.SeqLen };
        var seeds = new Option<int[]>("--seeds") { Description = "Seeds; every run is repeated per seed.", DefaultValueFactory = _ => [.. d.Seeds], AllowMultipleArgumentsPerToken = true };
        var threads = new Option<int>("--threads") { Description = "Torch intra-op threads (0: libtorch's default; 1 helps on a shared, oversubscribed machine).", DefaultValueFactory = _ => 0 };
        var replot = new Option<string?>("--replot") { Description = "Only redraw the PNG from a saved results JSON (docs/experiments.json)." };
        var json = new Option<bool>("--json") { Description = "Also print the results as JSON on stdout (progress goes to stderr)." };
        var cmd = new Command("experiment", "Run the LoRA-Squeeze miniature (direct vs Post/Cont/In-Squeeze at ranks 1–8 from rank 64).")
        {
            model, corpora, work, docs, tasks, ranks, source, steps, recover, lr, directLrs, scaling, alpha, batch, seqLen, seeds, threads, replot, json,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            if (parse.GetValue(replot) is { } saved)
            {
                var old = JsonSerializer.Deserialize<ExperimentResult>(File.ReadAllText(saved), CliJson.Options)
                    ?? throw new InvalidDataException($"{saved}: empty");
                ExperimentPlot.Write(old, Path.ChangeExtension(saved, ".png"));
                return 0;
            }
            TorchRuntime.EnsureInitialized(parse.GetValue(threads));
            var o = new ExperimentOptions
            {
                ModelDir = parse.GetValue(model)!, CorporaDir = parse.GetValue(corpora)!, WorkDir = parse.GetValue(work)!,
                Tasks = parse.GetValue(tasks)!, TargetRanks = parse.GetValue(ranks)!, SourceRank = parse.GetValue(source),
                Steps = parse.GetValue(steps), RecoverSteps = parse.GetValue(recover), Lr = parse.GetValue(lr), DirectLrSweep = parse.GetValue(directLrs)!,
                BatchSize = parse.GetValue(batch), SeqLen = parse.GetValue(seqLen), Seeds = parse.GetValue(seeds)!,
                Scaling = parse.GetValue(scaling) switch
                {
                    "rslora" => ExperimentScaling.RsLora,
                    "fixed-alpha" => ExperimentScaling.FixedAlpha,
                    _ => ExperimentScaling.AlphaR,
                },
                Alpha = parse.GetValue(alpha),
            };
            if (o.Alpha <= 0 || !double.IsFinite(o.Alpha)) throw new ArgumentException($"--alpha must be positive (got {o.Alpha})");
            foreach (var t in o.Tasks.Where(t => !File.Exists(Path.Combine(o.CorporaDir, t, "train.jsonl"))))
                CorpusSplit.Write(CorpusCatalog.Get(t), o.CorporaDir);
            var log = CliConsole.LogWriter(parse.GetValue(json));
            var result = ExperimentRunner.Run(o, log.WriteLine);
            var docsPath = parse.GetValue(docs)!;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(docsPath))!);
            var png = Path.ChangeExtension(docsPath, ".png");
            ExperimentPlot.Write(result, png);
            File.WriteAllText(Path.ChangeExtension(docsPath, ".json"), JsonSerializer.Serialize(result, CliJson.Options));
            File.WriteAllText(docsPath, Markdown(result, Path.GetFileName(png), CommandLine(parse.Tokens.Select(t => t.Value))) + KeptDiscussion(docsPath));
            log.WriteLine($"results → {docsPath}, {png} ({result.Seconds / 60:F1} min)");
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(result, CliJson.Options));
            return 0;
        }));
        root.Subcommands.Add(cmd);
    }

    /// <summary>The marker under which docs/experiments.md's hand-written discussion lives; a re-run keeps it.</summary>
    public const string DiscussionMarker = "<!-- discussion (hand-written; kept when the experiment is re-run) -->";

    private static string KeptDiscussion(string docsPath)
    {
        if (!File.Exists(docsPath)) return DiscussionMarker + "\n";
        var text = File.ReadAllText(docsPath);
        int at = text.IndexOf(DiscussionMarker, StringComparison.Ordinal);
        return at < 0 ? DiscussionMarker + "\n" : text[at..];
    }

    /// <summary>Mean and standard deviation over seeds; for the "mean" row, first averaged over tasks within each seed.</summary>
    private static (double Mean, double Sd) Stats(IEnumerable<ExperimentCell> cells, bool overTasks)
    {
        var perSeed = cells.GroupBy(c => c.Seed).Select(g => overTasks ? g.Average(c => c.Perplexity) : g.First().Perplexity).ToList();
        if (perSeed.Count == 0) return (double.NaN, double.NaN);
        double mean = perSeed.Average();
        double sd = perSeed.Count > 1 ? Math.Sqrt(perSeed.Sum(v => (v - mean) * (v - mean)) / (perSeed.Count - 1)) : 0;
        return (mean, sd);
    }

    private static string Format((double Mean, double Sd) x, double best, bool withSd)
    {
        var text = withSd ? $"{x.Mean:F2} ± {x.Sd:F2}" : $"{x.Mean:F2}";
        return x.Mean == best ? $"**{text}**" : text;
    }

    private static string ScalingText(ExperimentOptions o) => o.Scaling switch
    {
        ExperimentScaling.RsLora => $"rsLoRA scaling s = α/√r with α = {o.Alpha.ToString(CultureInfo.InvariantCulture)} (a squeeze keeps ΔW and the adapter trains on at s = α/√r of its new rank)",
        ExperimentScaling.FixedAlpha => $"s = α/r with α = {o.Alpha.ToString(CultureInfo.InvariantCulture)} (a squeeze keeps ΔW and the adapter trains on at s = α/r of its new rank)",
        _ => "α = r (s = 1, kept at every squeeze)",
    };

    // The parse result's tokens start with the verb itself.
    private static string CommandLine(IEnumerable<string> tokens) => "./lorasqueeze " + string.Join(' ', tokens);

    /// <summary>The generated part of docs/experiments.md (tables and settings); the discussion is written by hand below a marker.</summary>
    public static string Markdown(ExperimentResult r, string pngName, string command)
    {
        var o = r.Options;
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        string[] methods = [ExperimentRunner.Direct, ExperimentRunner.DirectTuned, ExperimentRunner.Post, ExperimentRunner.Cont, ExperimentRunner.In];
        sb.AppendLine("# LoRA-Squeeze miniature: direct low-rank LoRA vs Post-, Cont- and In-Squeeze");
        sb.AppendLine();
        sb.AppendLine("<!-- generated by `lorasqueeze experiment`; the discussion at the end is written by hand -->");
        sb.AppendLine();
        sb.AppendLine($"Command: `{command}` ({r.Seconds / 60:F1} minutes on this machine).");
        sb.AppendLine();
        sb.AppendLine($"Base model `{o.ModelDir}`; tasks {string.Join(", ", o.Tasks.Select(t => $"`{t}`"))} (held-out perplexity on the first {o.MaxEvalRows} eval rows of {o.SeqLen} tokens); " +
                      $"LoRA on {string.Join(", ", o.TargetModules)}; {ScalingText(o)}; AdamW lr {o.Lr.ToString(inv)} (warmup 5%, cosine to 10%; `direct-tuned` = best of lr {string.Join(", ", o.DirectLrSweep.Prepend(o.Lr).Select(x => x.ToString(inv)))} per task, rank and seed, chosen on the eval set), batch {o.BatchSize}, seq-len {o.SeqLen}; seeds {string.Join(", ", o.Seeds)} (each seed sets data order and adapter init, the same for every method).");
        sb.AppendLine();
        sb.AppendLine($"Budgets: every method takes **{o.Steps} update steps**; Cont-Squeeze adds **{o.RecoverSteps}** recovery steps at the target rank ({100.0 * o.RecoverSteps / o.Steps:F0}% extra, counted in the table). " +
                      $"Post and Cont branch off one source run at rank {o.SourceRank} (its checkpoint after step {o.Steps}); In-Squeeze halves the rank geometrically in {o.InSqueezeStages} equal stages. Optimiser moments are reset at every squeeze.");
        sb.AppendLine();
        sb.AppendLine($"![perplexity vs target rank]({pngName})");
        sb.AppendLine();
        sb.AppendLine("| task | base (no adapter) | source r=" + o.SourceRank + " |");
        sb.AppendLine("| --- | ---: | ---: |");
        foreach (var t in o.Tasks) sb.AppendLine($"| {t} | {r.BasePerplexity[t]:F2} | {r.SourcePerplexity[t]:F2} |");
        sb.AppendLine();
        sb.AppendLine(o.Seeds.Count > 1
            ? $"Held-out perplexity, mean ± standard deviation over {o.Seeds.Count} seeds (lower is better; **bold** = best mean at that task and rank):"
            : "Held-out perplexity (lower is better; **bold** = best at that task and rank):");
        sb.AppendLine();
        sb.AppendLine("| task | target r | direct | direct-tuned | post-squeeze | cont-squeeze | in-squeeze |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var t in o.Tasks.Append("mean"))
        {
            foreach (int rank in o.TargetRanks)
            {
                var stats = methods.Select(m => Stats(r.Cells.Where(c => c.TargetRank == rank && c.Method == m && (t == "mean" || c.Task == t)), t == "mean")).ToArray();
                double best = stats.Min(x => x.Mean);
                sb.AppendLine($"| {t} | {rank} | " + string.Join(" | ", stats.Select(x => Format(x, best, o.Seeds.Count > 1))) + " |");
            }
        }
        sb.AppendLine();
        sb.AppendLine("Update steps per run: " + string.Join(", ", methods.Select(m => $"{m} {r.Cells.First(c => c.Method == m).UpdateSteps}")) + ".");
        sb.AppendLine();
        sb.AppendLine("Post-Squeeze retained energy (mean over modules) per task and rank: " + string.Join("; ",
            r.Cells.Where(c => c.Method == ExperimentRunner.Post && c.Seed == o.Seeds[0]).Select(c => $"{c.Task} r={c.TargetRank}: {c.Note}")) + $" (seed {o.Seeds[0]}).");
        sb.AppendLine();
        return sb.ToString();
    }
}
