using System.CommandLine;
using LoraSqueeze.Cli.Plotting;
using LoraSqueeze.Training.Pretraining;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze pretrain --data FILE.jsonl --out DIR [...]</c>: trains a small LLaMA-architecture model and its BPE
/// tokenizer from scratch, written in Hugging Face layout.
/// </summary>
public static class PretrainCommand
{
    public static void Attach(RootCommand root)
    {
        var data = new Option<string>("--data") { Description = "Training JSONL.", Required = true };
        var eval = new Option<string?>("--eval") { Description = "Held-out JSONL for perplexity." };
        var outDir = new Option<string>("--out") { Description = "Output model folder.", Required = true };
        var d = new PretrainOptions { DataPath = "", OutDir = "" };
        var vocab = new Option<int>("--vocab") { Description = "Tokenizer vocabulary size.", DefaultValueFactory = _ => d.VocabSize };
        var hidden = new Option<int>("--hidden") { DefaultValueFactory = _ => d.HiddenSize };
        var inter = new Option<int>("--intermediate") { DefaultValueFactory = _ => d.IntermediateSize };
        var layers = new Option<int>("--layers") { DefaultValueFactory = _ => d.Layers };
        var heads = new Option<int>("--heads") { DefaultValueFactory = _ => d.Heads };
        var kvHeads = new Option<int>("--kv-heads") { DefaultValueFactory = _ => d.KvHeads };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => d.Steps };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => d.Lr };
        var batch = new Option<int>("--batch") { DefaultValueFactory = _ => d.BatchSize };
        var seqLen = new Option<int>("--seq-len") { DefaultValueFactory = _ => d.SeqLen };
        var seed = new Option<int>("--seed") { DefaultValueFactory = _ => d.Seed };
        var evalEvery = new Option<int>("--eval-every") { DefaultValueFactory = _ => d.EvalEvery };
        var ckpt = new Option<int>("--checkpoint-every") { DefaultValueFactory = _ => 0 };
        var resume = new Option<bool>("--resume") { Description = "Continue from OUT/checkpoint." };
        var json = new Option<bool>("--json") { Description = "Print the run summary as JSON on stdout (progress goes to stderr)." };
        var cmd = new Command("pretrain", "Pre-train a small LLaMA-architecture base model and its tokenizer (Hugging Face layout).")
        {
            data, eval, outDir, vocab, hidden, inter, layers, heads, kvHeads, steps, lr, batch, seqLen, seed, evalEvery, ckpt, resume, json,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var o = new PretrainOptions
            {
                DataPath = parse.GetValue(data)!, EvalPath = parse.GetValue(eval), OutDir = parse.GetValue(outDir)!,
                VocabSize = parse.GetValue(vocab), HiddenSize = parse.GetValue(hidden), IntermediateSize = parse.GetValue(inter),
                Layers = parse.GetValue(layers), Heads = parse.GetValue(heads), KvHeads = parse.GetValue(kvHeads),
                Steps = parse.GetValue(steps), Lr = parse.GetValue(lr), BatchSize = parse.GetValue(batch), SeqLen = parse.GetValue(seqLen),
                Seed = parse.GetValue(seed), EvalEvery = parse.GetValue(evalEvery), CheckpointEvery = parse.GetValue(ckpt), Resume = parse.GetValue(resume),
            };
            var writer = CliConsole.LogWriter(parse.GetValue(json));
            var (log, final) = PretrainRun.Run(o, null, writer.WriteLine, t => TrainingProgress.Run(t, "pretrain"));
            if (final is { } f) writer.WriteLine($"final: eval loss {f.Loss:F4}, perplexity {f.Perplexity:F2}");
            var png = Path.Combine(o.OutDir, "training_curve.png");
            TrainingCurvePlot.Write(log, $"pretrain {o.HiddenSize}×{o.Layers}", png);
            if (parse.GetValue(json))
            {
                Console.WriteLine(System.Text.Json.JsonSerializer.Serialize(
                    new { modelDir = o.OutDir, seconds = log.Seconds, tokens = log.Tokens, finalEval = final, curve = png }, CliJson.Options));
                return 0;
            }
            Console.WriteLine($"model → {o.OutDir} ({log.Seconds:F0} s, {log.Tokens:N0} tokens); curve → {png}");
            return 0;
        }));
        root.Subcommands.Add(cmd);
    }
}
