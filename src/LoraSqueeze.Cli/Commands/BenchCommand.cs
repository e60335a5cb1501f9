using System.CommandLine;

namespace LoraSqueeze.Cli.Commands;

/// <summary><c>lorasqueeze bench squeeze|decode</c>: the benchmarks whose results live in docs/benchmarks/.</summary>
public static class BenchCommand
{
    public static void Attach(RootCommand root) =>
        root.Subcommands.Add(new Command("bench", "Benchmarks (results go to docs/benchmarks/).")
        {
            SqueezeBenchCommand.Create(),
            DecodeBenchCommand.Create(),
        });
}
