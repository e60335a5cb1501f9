using System.CommandLine;
using System.Text.Json;
using LoraSqueeze.Cli.Plotting;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze inspect --adapter DIR [--base DIR] [--json] [--plot FILE.png]</c>: kind, modules, ranks, spectra
/// and retained energy at candidate ranks; the plot shows energy against rank per module type.
/// </summary>
public static class InspectCommand
{
    private static readonly int[] CandidateRanks = [1, 2, 4, 8, 16, 32, 64, 128];

    public sealed record ModuleInfo(string Module, string Type, long Out, long In, int SourceRank, string Method, double[] SingularValues, double TotalEnergy, Dictionary<int, double> RetainedEnergy);

    public sealed record AdapterInfo(string Adapter, AdapterKind Kind, string PeftType, int ModuleCount, IReadOnlyList<ModuleInfo> Modules);

    public static void Attach(RootCommand root)
    {
        var adapter = new Option<string>("--adapter") { Description = "PEFT adapter folder.", Required = true };
        var baseDir = new Option<string?>("--base") { Description = "Base model folder (needed for DoRA and VeRA)." };
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of retained energy against rank per module type." };
        var cmd = new Command("inspect", "Show an adapter's kind, modules, ranks, spectra and retained energy at candidate ranks.") { adapter, baseDir, json, plot };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var info = Inspect(parse.GetValue(adapter)!, parse.GetValue(baseDir));
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(info, CliJson.Options));
            }
            else
            {
                Console.WriteLine($"{info.Adapter}: {info.Kind} (peft_type {info.PeftType}), {info.ModuleCount} modules");
                Console.WriteLine($"{"module",-52} {"shape",-14} {"rank",5}  " + string.Join(" ", CandidateRanks.Select(r => $"E@{r,-4}")));
                foreach (var m in info.Modules)
                    Console.WriteLine($"{m.Module,-52} {$"{m.Out}x{m.In}",-14} {m.SourceRank,5}  " + string.Join(" ", CandidateRanks.Select(r => $"{m.RetainedEnergy[r],6:F4}")));
            }
            if (parse.GetValue(plot) is { } png) EnergyPlot.Write(info.Adapter, info.Modules.Select(m => (m.Type, m.SingularValues, m.TotalEnergy)).ToList(), png);
            return 0;
        }));
        root.Subcommands.Add(cmd);
    }

    /// <summary>Spectrum per module: exact for factored kinds, leading 128 by RSVD otherwise.</summary>
    public static AdapterInfo Inspect(string dir, string? baseDir)
    {
        using var adapter = AdapterReader.Read(dir, baseDir);
        var modules = new List<ModuleInfo>();
        foreach (var m in adapter.Modules)
        {
            int cap = (int)Math.Min(CandidateRanks[^1], Math.Min(m.OutFeatures, m.InFeatures));
            var (svd, method) = AdapterSqueezer.Decompose(m, cap, new SqueezeOptions());
            using (svd)
            {
                var energy = CandidateRanks.ToDictionary(r => r, svd.RetainedEnergy);
                var type = m.ModulePath[(m.ModulePath.LastIndexOf('.') + 1)..];
                modules.Add(new ModuleInfo(m.ModulePath, type, m.OutFeatures, m.InFeatures, m.SourceRank, method, svd.Values().Take(cap).ToArray(), svd.TotalEnergy, energy));
            }
        }
        return new AdapterInfo(adapter.Name, adapter.Kind, adapter.Config.PeftType, modules.Count, modules);
    }
}
