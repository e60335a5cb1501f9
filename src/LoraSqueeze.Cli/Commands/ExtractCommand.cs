using System.Text.Json;
using System.CommandLine;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using Spectre.Console;

namespace LoraSqueeze.Cli.Commands;

/// <summary><c>lorasqueeze extract --base DIR --tuned DIR --rank R --out DIR</c>: a LoRA from a full fine-tune.</summary>
public static class ExtractCommand
{
    public static void Attach(RootCommand root)
    {
        var baseDir = new Option<string>("--base") { Description = "Base model folder.", Required = true };
        var tuned = new Option<string>("--tuned") { Description = "Fine-tuned model folder (same architecture).", Required = true };
        var rank = new Option<int>("--rank") { Description = "Target rank.", Required = true };
        var output = new Option<string>("--out") { Description = "Output folder (a standard PEFT LoRA).", Required = true };
        var seed = new Option<long>("--seed") { Description = "RSVD seed.", DefaultValueFactory = _ => 0 };
        var force = new Option<bool>("--force") { Description = "Replace a non-empty output folder." };
        var json = new Option<bool>("--json") { Description = "Print the report as JSON on stdout (progress goes to stderr)." };
        var cmd = new Command("extract", "Extract a rank-R LoRA from a fine-tuned checkpoint minus its base (randomized SVD).")
        {
            baseDir, tuned, rank, output, seed, force, json,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            (LoraWeights Weights, SqueezeReport Report)? result = null;
            CliConsole.ForProgress(parse.GetValue(json)).Progress().Start(ctx =>
            {
                var task = ctx.AddTask("extracting");
                var options = new SqueezeOptions
                {
                    Seed = parse.GetValue(seed),
                    OnModule = (m, i, n) => { task.MaxValue = n; task.Value = i; },
                };
                result = FullWeightExtractor.Extract(parse.GetValue(baseDir)!, parse.GetValue(tuned)!, parse.GetValue(rank), options);
            });
            var (weights, report) = result ?? throw new InvalidOperationException("extraction produced no result");
            using (weights) PeftLoraWriter.Write(weights, parse.GetValue(output)!, parse.GetValue(baseDir), null, parse.GetValue(force));
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(report, CliJson.Options));
                return 0;
            }
            Console.WriteLine($"{report.ModuleCount} modules → rank {report.TargetRank}, mean retained energy {report.MeanRetainedEnergy:P2}, max rel. error {report.MaxRelativeError:G3}, {report.Seconds:F1} s");
            return 0;
        }));
        root.Subcommands.Add(cmd);
    }
}
