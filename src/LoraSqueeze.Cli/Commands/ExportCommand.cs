using System.CommandLine;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Gguf;
using Spectre.Console;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze export gguf --model DIR --out FILE.gguf [--type f32|f16|q8_0]</c>: the base model as one llama.cpp
/// GGUF (for llama.cpp, Ollama and the peer benchmark). <c>lorasqueeze export gguf --model DIR --adapter DIR --rank R
/// --out FILE.gguf</c>: any adapter the server loads (LoRA, rsLoRA, DoRA, VeRA, LoHa, LoKr, AdaLoRA …), squeezed to rank
/// R exactly as the server squeezes it, as a llama.cpp LoRA GGUF.
/// </summary>
public static class ExportCommand
{
    public static void Attach(RootCommand root)
    {
        var model = new Option<string>("--model") { Description = "Base model folder (Hugging Face layout).", Required = true };
        var output = new Option<string>("--out") { Description = "GGUF file to write.", Required = true };
        var type = new Option<string>("--type") { Description = "Matrix type: f32, f16 or q8_0 (norms and biases stay f32).", DefaultValueFactory = _ => "f32" };
        var adapter = new Option<string?>("--adapter") { Description = "Export this adapter (squeezed to --rank) instead of the base model." };
        var rank = new Option<int?>("--rank") { Description = "Rank the adapter is squeezed to (required with --adapter)." };
        var force = new Option<bool>("--force") { Description = "Replace an existing output file." };
        var gguf = new Command("gguf", "Write a llama.cpp GGUF: the base model, or a squeezed adapter as a LoRA GGUF.") { model, output, type, adapter, rank, force };
        gguf.SetAction(parse => CliErrors.Run(() =>
        {
            var modelDir = parse.GetValue(model)!;
            var outPath = parse.GetValue(output)!;
            var ggufType = GgufTensorTypes.Parse(parse.GetValue(type)!);
            if (File.Exists(outPath) && !parse.GetValue(force))
                throw new IOException($"{outPath}: file exists (pass --force to replace it)");
            TorchRuntime.EnsureInitialized();
            if (parse.GetValue(adapter) is { } adapterDir)
            {
                int r = parse.GetValue(rank) ?? throw new ArgumentException("--rank is required with --adapter (the rank the adapter is squeezed to)");
                if (r < 1) throw new ArgumentException($"--rank must be at least 1, got {r}");
                var config = ModelConfig.Load(modelDir);
                var (weights, report) = AdapterSqueezer.LoadAndSqueeze(adapterDir, r, new SqueezeOptions { Parallelism = Environment.ProcessorCount }, modelDir);
                using (weights) GgufLoraExporter.Export(weights, config, outPath, ggufType);
                Console.WriteLine($"{outPath}: {report.Adapter} ({report.SourceKind}) squeezed to rank {report.TargetRank}, {report.ModuleCount} modules, mean retained energy {report.MeanRetainedEnergy:P2}, {new FileInfo(outPath).Length:N0} bytes");
                return 0;
            }
            if (parse.GetValue(rank) is not null) throw new ArgumentException("--rank applies to --adapter exports only");
            AnsiConsole.Progress().Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                .Start(ctx =>
                {
                    var task = ctx.AddTask($"writing {Markup.Escape(Path.GetFileName(outPath))}", maxValue: 1);
                    GgufModelExporter.Export(modelDir, outPath, ggufType, new Progress<(int Done, int Total)>(p => { task.MaxValue = p.Total; task.Value = p.Done; }));
                });
            Console.WriteLine($"{outPath}: {parse.GetValue(type)} GGUF, {new FileInfo(outPath).Length:N0} bytes");
            return 0;
        }));
        var export = new Command("export", "Export to other runtimes' formats.") { gguf };
        root.Subcommands.Add(export);
    }
}
