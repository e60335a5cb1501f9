using System.CommandLine;
using LoraSqueeze.Training.Demo;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze demo build [--out models/demo] [--corpora out/corpora] [--skip-base]</c>: regenerates the demo base
/// model and adapters from the Debian corpora on this machine (see models/demo/README.md).
/// </summary>
public static class DemoCommand
{
    public static void Attach(RootCommand root)
    {
        var outDir = new Option<string>("--out") { Description = "Demo folder.", DefaultValueFactory = _ => "models/demo" };
        var corpora = new Option<string>("--corpora") { Description = "Corpus folder (extracted when missing).", DefaultValueFactory = _ => "out/corpora" };
        var skipBase = new Option<bool>("--skip-base") { Description = "Keep an existing base model and retrain only the adapters." };
        var build = new Command("build", "Pre-train the demo base model and train the demo adapters from scratch.") { outDir, corpora, skipBase };
        build.SetAction(parse => CliErrors.Run(() =>
        {
            DemoBuilder.Build(new DemoBuilder.Options(parse.GetValue(outDir)!, parse.GetValue(corpora)!, parse.GetValue(skipBase),
                (trainer, name) => TrainingProgress.Run(trainer, name), Console.WriteLine));
            Console.WriteLine($"demo → {parse.GetValue(outDir)} (samples in SAMPLES.md)");
            return 0;
        }));
        var demo = new Command("demo", "The demo model and adapters.") { build };
        root.Subcommands.Add(demo);
    }
}
