using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using LoraSqueeze.Cli.Plotting;
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
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => d.BatchSize };
        var seqLen = new Option<int>("--seq-len") { DefaultValueFactory = _ => d.SeqLen };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => d.Seed };
        var cmd = new Command("experiment", "Run the LoRA-Squeeze miniature (direct vs Post/Cont/In-Squeeze at ranks 1–8 from rank 64).")
        {
            model, corpora, work, docs, tasks, ranks, source, steps, recover, lr, batch, seqLen, seed,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var o = new ExperimentOptions
            {
                ModelDir = parse.GetValue(model)!, CorporaDir = parse.GetValue(corpora)!, WorkDir = parse.GetValue(work)!,
                Tasks = parse.GetValue(tasks)!, TargetRanks = parse.GetValue(ranks)!, SourceRank = parse.GetValue(source),
                Steps = parse.GetValue(steps), RecoverSteps = parse.GetValue(recover), Lr = parse.GetValue(lr),
                BatchSize = parse.GetValue(batch), SeqLen = parse.GetValue(seqLen), Seed = parse.GetValue(seed),
            };
            foreach (var t in o.Tasks.Where(t => !File.Exists(Path.Combine(o.CorporaDir, t, "train.jsonl"))))
                CorpusSplit.Write(CorpusCatalog.Get(t), o.CorporaDir);
            var result = ExperimentRunner.Run(o, Console.WriteLine);
            var docsPath = parse.GetValue(docs)!;
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(docsPath))!);
            var png = Path.ChangeExtension(docsPath, ".png");
            ExperimentPlot.Write(result, png);
            File.WriteAllText(Path.ChangeExtension(docsPath, ".json"), JsonSerializer.Serialize(result, CliJson.Options));
            File.WriteAllText(docsPath, Markdown(result, Path.GetFileName(png), CommandLine(parse.Tokens.Select(t => t.Value))) + KeptDiscussion(docsPath));
            Console.WriteLine($"results → {docsPath}, {png} ({result.Seconds / 60:F1} min)");
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

    private static string CommandLine(IEnumerable<string> args) => "./lorasqueeze experiment " + string.Join(' ', args);

    /// <summary>The generated part of docs/experiments.md (tables and settings); the discussion is written by hand below a marker.</summary>
    public static string Markdown(ExperimentResult r, string pngName, string command)
    {
        var o = r.Options;
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        string[] methods = [ExperimentRunner.Direct, ExperimentRunner.Post, ExperimentRunner.Cont, ExperimentRunner.In];
        sb.AppendLine("# LoRA-Squeeze miniature: direct low-rank LoRA vs Post-, Cont- and In-Squeeze");
        sb.AppendLine();
        sb.AppendLine("<!-- generated by `lorasqueeze experiment`; the discussion at the end is written by hand -->");
        sb.AppendLine();
        sb.AppendLine($"Command: `{command}` ({r.Seconds / 60:F1} minutes on this machine).");
        sb.AppendLine();
        sb.AppendLine($"Base model `{o.ModelDir}`; tasks {string.Join(", ", o.Tasks.Select(t => $"`{t}`"))} (held-out perplexity on the first {o.MaxEvalRows} eval rows of {o.SeqLen} tokens); " +
                      $"LoRA on {string.Join(", ", o.TargetModules)}; α = r (s = 1, kept at every squeeze); AdamW lr {o.Lr.ToString(inv)} (warmup 5%, cosine to 10%), batch {o.BatchSize}, seq-len {o.SeqLen}, seed {o.Seed} for data order and init in every run.");
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
        sb.AppendLine("Held-out perplexity (lower is better; **bold** = best at that task and rank):");
        sb.AppendLine();
        sb.AppendLine("| task | target r | direct | post-squeeze | cont-squeeze | in-squeeze |");
        sb.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var t in o.Tasks.Append("mean"))
        {
            foreach (int rank in o.TargetRanks)
            {
                var vals = methods.Select(m => r.Cells.Where(c => c.TargetRank == rank && c.Method == m && (t == "mean" || c.Task == t)).Select(c => c.Perplexity).DefaultIfEmpty(double.NaN).Average()).ToArray();
                double best = vals.Min();
                sb.AppendLine($"| {t} | {rank} | " + string.Join(" | ", vals.Select(v => v == best ? $"**{v:F2}**" : $"{v:F2}")) + " |");
            }
        }
        sb.AppendLine();
        sb.AppendLine("Update steps per run: " + string.Join(", ", methods.Select(m => $"{m} {r.Cells.First(c => c.Method == m).UpdateSteps}")) + ".");
        sb.AppendLine();
        sb.AppendLine("Post-Squeeze retained energy (mean over modules) per task and rank: " + string.Join("; ",
            r.Cells.Where(c => c.Method == ExperimentRunner.Post).Select(c => $"{c.Task} r={c.TargetRank}: {c.Note}")) + ".");
        sb.AppendLine();
        return sb.ToString();
    }
}
