using System.CommandLine;
using LoraSqueeze.Cli.Plotting;
using LoraSqueeze.Training.Adapters;
using LoraSqueeze.Training.Runs;
using LoraSqueeze.Training.Squeeze;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze train --model DIR --data FILE.jsonl --out DIR --rank R [...]</c>: trains a LoRA-family adapter on a
/// frozen base and writes it in PEFT format, with the LoRA-Squeeze modes (docs/training.md).
/// </summary>
public static class TrainCommand
{
    public static void Attach(RootCommand root)
    {
        var model = new Option<string>("--model") { Description = "Base model folder (Hugging Face layout).", Required = true };
        var data = new Option<string>("--data") { Description = "Training JSONL: {\"text\": ...} or {\"prompt\": ..., \"completion\": ...} per line.", Required = true };
        var outDir = new Option<string>("--out") { Description = "Output adapter folder (PEFT format).", Required = true };
        var rank = new Option<int>("--rank") { Description = "LoRA rank (VeRA: the shared projection width).", Required = true };
        var alpha = new Option<double?>("--alpha") { Description = "lora_alpha (default: the rank, so s = 1)." };
        var targets = new Option<string[]>("--target-modules") { Description = "Projection names (default: all seven).", AllowMultipleArgumentsPerToken = true };
        var steps = new Option<int>("--steps") { Description = "Update steps.", DefaultValueFactory = _ => 200 };
        var lr = new Option<double>("--lr") { Description = "Peak learning rate (warmup 5%, cosine decay to 10%).", DefaultValueFactory = _ => 2e-3 };
        var batch = new Option<int>("--batch") { Description = "Sequences per step.", DefaultValueFactory = _ => 8 };
        var seqLen = new Option<int>("--seq-len") { Description = "Tokens per sequence.", DefaultValueFactory = _ => 64 };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => 1234 };
        var eval = new Option<string?>("--eval") { Description = "Held-out JSONL for perplexity." };
        var evalEvery = new Option<int>("--eval-every") { Description = "Evaluate every N steps (0: at the end).", DefaultValueFactory = _ => 0 };
        var variant = new Option<string>("--variant") { Description = "lora, dora or vera.", DefaultValueFactory = _ => "lora" };
        var rslora = new Option<bool>("--rslora") { Description = "rsLoRA scaling α/√r." };
        var loraplus = new Option<double>("--loraplus-ratio") { Description = "LoRA+: B's learning rate over A's.", DefaultValueFactory = _ => 1.0 };
        var freezeA = new Option<bool>("--freeze-a") { Description = "LoRA-FA: keep A at its random init." };
        var mergeEvery = new Option<int>("--merge-every") { Description = "PeriodicLoRA: merge and re-initialise every K steps.", DefaultValueFactory = _ => 0 };
        var squeezeTo = new Option<int?>("--squeeze-to") { Description = "Post-Squeeze to this rank (with --recover-steps: Cont-Squeeze)." };
        var recover = new Option<int>("--recover-steps") { Description = "Cont-Squeeze: steps at the target rank after the squeeze.", DefaultValueFactory = _ => 0 };
        var anneal = new Option<string?>("--anneal") { Description = "In-Squeeze: R_SRC:R_TGT." };
        var shape = new Option<string>("--schedule") { Description = "In-Squeeze rank schedule: linear, cosine or geometric.", DefaultValueFactory = _ => "geometric" };
        var stages = new Option<int>("--stages") { Description = "In-Squeeze stages (squeezes = stages − 1).", DefaultValueFactory = _ => 4 };
        var ckpt = new Option<int>("--checkpoint-every") { Description = "Write OUT/checkpoint every N steps.", DefaultValueFactory = _ => 0 };
        var resume = new Option<bool>("--resume") { Description = "Continue from OUT/checkpoint." };
        var json = new Option<bool>("--json") { Description = "Print the run summary as JSON on stdout (progress goes to stderr)." };
        var cmd = new Command("train", "Train a LoRA-family adapter on a frozen base (PEFT output; Post-, Cont- and In-Squeeze).")
        {
            model, data, outDir, rank, alpha, targets, steps, lr, batch, seqLen, seed, eval, evalEvery, variant, rslora, loraplus,
            freezeA, mergeEvery, squeezeTo, recover, anneal, shape, stages, ckpt, resume, json,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var spec = new AdapterSpec
            {
                Variant = parse.GetValue(variant)!.ToLowerInvariant() switch
                {
                    "lora" => AdapterVariant.Lora,
                    "dora" => AdapterVariant.Dora,
                    "vera" => AdapterVariant.Vera,
                    var v => throw new ArgumentException($"--variant {v}: expected lora, dora or vera"),
                },
                Rank = parse.GetValue(rank),
                Alpha = parse.GetValue(alpha),
                UseRsLora = parse.GetValue(rslora),
                LoraPlusRatio = parse.GetValue(loraplus),
                FreezeA = parse.GetValue(freezeA),
            };
            if (parse.GetValue(targets) is { Length: > 0 } t) spec = spec with { TargetModules = t.SelectMany(x => x.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToList() };
            (int, int, AnnealShape, int)? annealPlan = null;
            if (parse.GetValue(anneal) is { } a)
            {
                var (src, tgt) = RankSchedule.ParseAnneal(a);
                annealPlan = (src, tgt, RankSchedule.ParseShape(parse.GetValue(shape)!), parse.GetValue(stages));
            }
            var options = new AdapterTrainingOptions
            {
                ModelDir = parse.GetValue(model)!,
                DataPath = parse.GetValue(data)!,
                EvalPath = parse.GetValue(eval),
                OutDir = parse.GetValue(outDir)!,
                Adapter = spec,
                Steps = parse.GetValue(steps),
                Lr = parse.GetValue(lr),
                BatchSize = parse.GetValue(batch),
                SeqLen = parse.GetValue(seqLen),
                Seed = parse.GetValue(seed),
                EvalEvery = parse.GetValue(evalEvery),
                SqueezeTo = parse.GetValue(squeezeTo),
                RecoverSteps = parse.GetValue(recover),
                Anneal = annealPlan,
                MergeEvery = parse.GetValue(mergeEvery),
                CheckpointEvery = parse.GetValue(ckpt),
                Resume = parse.GetValue(resume),
            };
            var log = CliConsole.LogWriter(parse.GetValue(json));
            log.WriteLine($"train: {spec.Variant} rank {spec.Rank}, mode {options.Mode}");
            var result = AdapterTrainingRun.Run(options, null, log.WriteLine, trainer => TrainingProgress.Run(trainer, "train"));
            foreach (var e in result.Log.Events) log.WriteLine($"step {e.Step}: {e.Kind}: {e.Detail}");
            if (result.EvalBeforeSqueeze is { } b) log.WriteLine($"before squeeze: eval loss {b.Loss:F4}, perplexity {b.Perplexity:F2}");
            if (result.FinalEval is { } f) log.WriteLine($"final: eval loss {f.Loss:F4}, perplexity {f.Perplexity:F2}");
            var png = Path.Combine(options.OutDir, "training_curve.png");
            TrainingCurvePlot.Write(result.Log, $"{spec.Variant} r={spec.Rank}, {options.Mode}", png);
            if (parse.GetValue(json))
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(new
                {
                    adapterDir = options.OutDir, variant = spec.Variant.ToString(), mode = options.Mode.ToString(),
                    finalRank = result.FinalRank, updateSteps = result.UpdateSteps, seconds = result.Seconds,
                    evalBeforeSqueeze = result.EvalBeforeSqueeze, finalEval = result.FinalEval, curve = png,
                    events = result.Log.Events,
                }, CliJson.Options));
                return 0;
            }
            Console.WriteLine($"adapter (rank {result.FinalRank}, {result.UpdateSteps} update steps, {result.Seconds:F0} s) → {options.OutDir}; curve → {png}");
            return 0;
        }));
        root.Subcommands.Add(cmd);
    }
}
