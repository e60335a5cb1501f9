using System.CommandLine;
using System.Text.Json;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Core.Torch;
using Spectre.Console;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze squeeze --adapter DIR --rank R --out DIR [--base DIR] [--method auto|exact|rsvd] [--oversample P]
/// [--power-iters Q] [--seed S] [--report FILE.json] [--energy E | --param-budget N] [--force]</c>. A folder of adapter
/// folders is squeezed one by one with a progress display, each into OUT/&lt;name&gt;.
/// </summary>
public static class SqueezeCommand
{
    public static void Attach(RootCommand root)
    {
        var adapter = new Option<string>("--adapter") { Description = "PEFT adapter folder, or a folder of adapter folders.", Required = true };
        var rank = new Option<int>("--rank") { Description = "Target rank (uniform; the maximum with --energy/--param-budget).", Required = true };
        var output = new Option<string>("--out") { Description = "Output folder (a standard PEFT LoRA).", Required = true };
        var baseDir = new Option<string?>("--base") { Description = "Base model folder (needed for DoRA and VeRA; checks shapes)." };
        var method = new Option<SqueezeMethod>("--method") { Description = "auto, exact, rsvd or dense.", DefaultValueFactory = _ => SqueezeMethod.Auto };
        var oversample = new Option<int>("--oversample") { Description = "RSVD oversampling.", DefaultValueFactory = _ => 10 };
        var power = new Option<int>("--power-iters") { Description = "RSVD power iterations.", DefaultValueFactory = _ => 2 };
        var seed = new Option<long>("--seed") { Description = "RSVD seed.", DefaultValueFactory = _ => 0 };
        var report = new Option<string?>("--report") { Description = "Write the squeeze report as JSON here." };
        var energy = new Option<double?>("--energy") { Description = "Offline export: per-module rank keeping this energy fraction (non-uniform)." };
        var budget = new Option<long?>("--param-budget") { Description = "Offline export: total LoRA parameters to spend (non-uniform)." };
        var force = new Option<bool>("--force") { Description = "Replace a non-empty output folder." };
        var json = new Option<bool>("--json") { Description = "Print the squeeze report(s) as JSON on stdout (progress goes to stderr)." };
        var cmd = new Command("squeeze", "Squeeze LoRA-family adapters to one uniform-rank standard LoRA.")
        {
            adapter, rank, output, baseDir, method, oversample, power, seed, report, energy, budget, force, json,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            // Modules run on all cores with one torch thread each (see ModuleParallel for why that is faster).
            TorchRuntime.EnsureInitialized(threads: 1);
            var options = new SqueezeOptions
            {
                Parallelism = Environment.ProcessorCount,
                Method = parse.GetValue(method), Oversample = parse.GetValue(oversample), PowerIterations = parse.GetValue(power),
                Seed = parse.GetValue(seed), Energy = parse.GetValue(energy), ParamBudget = parse.GetValue(budget),
            };
            var src = parse.GetValue(adapter)!;
            var outDir = parse.GetValue(output)!;
            int r = parse.GetValue(rank);
            var b = parse.GetValue(baseDir);
            var reports = new List<SqueezeReport>();
            if (File.Exists(Path.Combine(src, AdapterConfig.FileName)))
            {
                reports.Add(SqueezeOne(src, outDir, r, options, b, parse.GetValue(force)));
            }
            else if (Directory.Exists(src))
            {
                var dirs = Directory.GetDirectories(src).Where(d => File.Exists(Path.Combine(d, AdapterConfig.FileName))).Order(StringComparer.Ordinal).ToList();
                if (dirs.Count == 0) throw new AdapterFormatException($"{src}: neither an adapter folder nor a folder of adapter folders");
                SqueezeFolder(dirs, outDir, r, options, b, parse.GetValue(force), reports, CliConsole.ForProgress(parse.GetValue(json)));
            }
            else
            {
                throw new AdapterFormatException($"{src}: adapter folder not found");
            }
            var reportJson = JsonSerializer.Serialize(reports.Count == 1 ? reports[0] : (object)reports, CliJson.Options);
            if (parse.GetValue(json)) Console.WriteLine(reportJson);
            else foreach (var rep in reports)
                Console.WriteLine($"{rep.Adapter}: {rep.SourceKind}, {rep.ModuleCount} modules → rank {rep.TargetRank}{(rep.Uniform ? "" : " (non-uniform)")}, mean retained energy {rep.MeanRetainedEnergy:P2}, min {rep.MinRetainedEnergy:P2}, max rel. error {rep.MaxRelativeError:G3}, {rep.Seconds:F2} s");
            if (parse.GetValue(report) is { } file)
                File.WriteAllText(file, reportJson);
            return 0;
        }));
        root.Subcommands.Add(cmd);
    }

    private static SqueezeReport SqueezeOne(string dir, string outDir, int rank, SqueezeOptions options, string? baseDir, bool force)
    {
        var (weights, report) = AdapterSqueezer.LoadAndSqueeze(dir, rank, options, baseDir);
        using (weights)
        {
            var cfg = AdapterConfig.Load(Path.Combine(dir, AdapterConfig.FileName));
            PeftLoraWriter.Write(weights, outDir, cfg.BaseModelNameOrPath, cfg.TaskType, force);
        }
        return report;
    }

    /// <summary>
    /// Squeezes every adapter into a hidden staging sibling of <paramref name="outDir"/> and renames it into place only
    /// when all succeeded, so one bad adapter leaves nothing in <c>--out</c> (the same rule PeftLoraWriter keeps for a
    /// single adapter). Progress goes through Spectre.Console, which falls back to plain output when stdout is redirected.
    /// </summary>
    private static void SqueezeFolder(List<string> dirs, string outDir, int rank, SqueezeOptions options, string? baseDir, bool force, List<SqueezeReport> reports, IAnsiConsole console)
    {
        var full = Path.GetFullPath(outDir);
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any() && !force)
            throw new IOException($"{outDir}: output folder exists and is not empty (pass --force to replace it)");
        var staging = StagingFolder.Create(full);
        try
        {
            console.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask("squeezing", maxValue: dirs.Count);
                    foreach (var d in dirs)
                    {
                        task.Description = Markup.Escape(Path.GetFileName(d));
                        reports.Add(SqueezeOne(d, Path.Combine(staging, Path.GetFileName(d)), rank, options, baseDir, force: false));
                        task.Increment(1);
                    }
                });
            StagingFolder.Commit(staging, full);
        }
        catch
        {
            if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true);
            throw;
        }
    }
}
