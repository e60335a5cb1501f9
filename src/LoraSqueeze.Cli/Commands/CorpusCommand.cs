using System.CommandLine;
using LoraSqueeze.Training.Corpora;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze corpus --out DIR [--name N]... [--list]</c>: extracts the named corpora from installed Debian packages
/// into <c>DIR/NAME/train.jsonl</c> and <c>eval.jsonl</c> (deterministic split).
/// </summary>
public static class CorpusCommand
{
    public static void Attach(RootCommand root)
    {
        var outDir = new Option<string>("--out") { Description = "Output folder (one sub-folder per corpus).", DefaultValueFactory = _ => "out/corpora" };
        var names = new Option<string[]>("--name") { Description = "Corpus names (default: all).", AllowMultipleArgumentsPerToken = true };
        var list = new Option<bool>("--list") { Description = "List the corpora and the Debian packages they come from." };
        var command = new Command("corpus", "Extract training corpora (KJV, fortunes, Devil's Dictionary, Jargon File) to JSONL.") { outDir, names, list };
        command.SetAction(parse =>
        {
            if (parse.GetValue(list))
            {
                foreach (var c in CorpusCatalog.All) Console.WriteLine($"{c.Name,-12} {c.Description} (Debian: {c.DebianPackages})");
                return 0;
            }
            var selected = parse.GetValue(names) is { Length: > 0 } n ? n.Select(CorpusCatalog.Get) : CorpusCatalog.All;
            try
            {
                foreach (var c in selected)
                {
                    var (train, eval) = CorpusSplit.Write(c, parse.GetValue(outDir)!);
                    Console.WriteLine($"{c.Name,-12} {train,6} train, {eval,4} eval examples");
                }
            }
            catch (FileNotFoundException ex)
            {
                Console.Error.WriteLine($"error: {ex.Message}");
                return 2;
            }
            return 0;
        });
        root.Subcommands.Add(command);
    }
}
