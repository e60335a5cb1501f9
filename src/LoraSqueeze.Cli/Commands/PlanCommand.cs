using System.CommandLine;
using System.Text.Json;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Core.Units;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Lora;
using LoraSqueeze.Server.Hosting;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze plan --model DIR --rank R --budget SIZE [--host-budget SIZE] [--adapters DIR ...] [--dtype D] [--json]</c>:
/// from the model's shapes, how many adapters fit in the device budget (slots) and the host budget at each candidate
/// rank; with adapters given, what each rank keeps of their spectral energy (each adapter is decomposed once, see
/// <see cref="AdapterSpectrum"/>).
/// </summary>
public static class PlanCommand
{
    private static readonly int[] CandidateRanks = [1, 2, 4, 8, 16, 32, 64, 128];

    public static void Attach(RootCommand root)
    {
        var model = new Option<string>("--model") { Description = "Base model folder (config.json).", Required = true };
        var rank = new Option<int>("--rank") { Description = "The target rank being considered.", Required = true };
        var budget = new Option<string>("--budget") { Description = "Device memory for adapter slots, e.g. 2GiB.", Required = true };
        var hostBudget = new Option<string?>("--host-budget") { Description = "Host cache budget (default: 4 × --budget)." };
        var adapters = new Option<string[]>("--adapters") { Description = "Adapter folder, or a folder of adapter folders (repeatable)." };
        var dtype = new Option<string>("--dtype") { Description = "Device slot dtype: float32, bfloat16 or int8 (as serve --slot-dtype).", DefaultValueFactory = _ => "float32" };
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var cmd = new Command("plan", "How many adapters fit per tier at each rank, and what a rank costs in retained energy.")
        {
            model, rank, budget, hostBudget, adapters, dtype, json,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var plan = Build(parse.GetValue(model)!, parse.GetValue(rank), ByteSize.Parse(parse.GetValue(budget)!),
                parse.GetValue(hostBudget) is { } hb ? ByteSize.Parse(hb) : null, parse.GetValue(adapters) ?? [], parse.GetValue(dtype)!);
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(plan, CliJson.Options));
            else Print(plan);
            return 0;
        }));
        root.Subcommands.Add(cmd);
    }

    public sealed record RankRow(int Rank, long DeviceBytesPerAdapter, long HostBytesPerAdapter, long DeviceSlots, long HostAdapters,
        double? MeanRetainedEnergy, double? MinRetainedEnergy);

    public sealed record AdapterRow(string Adapter, string Kind, IReadOnlyList<int> SourceRanks, double RetainedEnergyAtRank);

    public sealed record Plan(string Model, int Rank, long DeviceBudget, long HostBudget, string DType, long ParametersPerRank,
        IReadOnlyList<RankRow> Ranks, IReadOnlyList<AdapterRow> Adapters);

    public static Plan Build(string modelDir, int rank, long deviceBudget, long? hostBudget, IReadOnlyList<string> adapterPaths, string dtype)
    {
        if (rank < 1) throw new ArgumentException("--rank must be at least 1");
        var config = ModelConfig.Load(modelDir);
        var slotType = SlotDTypes.Parse(dtype, "--dtype");
        long perRank = config.LoraParametersPerRank;
        int modules = 7 * config.NumHiddenLayers;
        long host = hostBudget ?? deviceBudget * 4;
        var dirs = AdapterDirectories(adapterPaths);
        // A rank above a projection's smaller side is meaningless (and the squeeze refuses it).
        long maxRank = MinimumProjectionSide(config);
        if (rank > maxRank) throw new ArgumentException($"--rank {rank} exceeds the smallest projection side {maxRank} of this model");
        var ranks = CandidateRanks.Where(r => r <= maxRank).Append(rank).Distinct().Order().ToList();
        if (dirs.Count > 0) TorchRuntime.EnsureInitialized();
        // One decomposition per adapter; the retained energy at every candidate rank is read off its spectrum.
        var spectra = dirs.Select(dir => AdapterSpectrum.Read(dir, modelDir, ranks[^1])).ToList();
        var rows = ranks.Select(r =>
        {
            // Every module's A and B at rank r in the slot dtype (int8: plus its per-row scales), as the server's slots.
            long device = perRank * r * SlotDTypes.ElementBytes(slotType) + modules * SlotDTypes.ScaleBytesPerModule(slotType, r);
            long hostBytes = perRank * r * 4; // the host tier keeps float32 factors
            return new RankRow(r, device, hostBytes, deviceBudget / device, host / hostBytes,
                spectra.Count == 0 ? null : spectra.Average(x => x.MeanRetainedEnergy(r)),
                spectra.Count == 0 ? null : spectra.Min(x => x.MinRetainedEnergy(r)));
        }).ToList();
        var adapterRows = spectra.Select(x => new AdapterRow(x.Adapter, x.Kind.ToString().ToLowerInvariant(),
            x.SourceRanks, x.MeanRetainedEnergy(rank))).ToList();
        return new Plan(Path.GetFullPath(modelDir), rank, deviceBudget, host, dtype, perRank, rows, adapterRows);
    }

    private static long MinimumProjectionSide(ModelConfig c) =>
        new long[] { c.HiddenSize, (long)c.NumAttentionHeads * c.HeadDim, (long)c.NumKvHeads * c.HeadDim, c.IntermediateSize }.Min();

    private static List<string> AdapterDirectories(IReadOnlyList<string> paths)
    {
        var dirs = new List<string>();
        foreach (var p in paths)
        {
            if (File.Exists(Path.Combine(p, "adapter_config.json"))) dirs.Add(p);
            else if (Directory.Exists(p))
                dirs.AddRange(Directory.GetDirectories(p).Where(d => File.Exists(Path.Combine(d, "adapter_config.json"))).Order(StringComparer.Ordinal));
            else throw new DirectoryNotFoundException($"adapter folder '{p}' not found");
        }
        return dirs;
    }

    private static void Print(Plan plan)
    {
        Console.WriteLine($"{plan.Model}: {plan.ParametersPerRank:N0} LoRA parameters per unit of rank; device budget " +
                          $"{ByteSize.Format(plan.DeviceBudget)} ({plan.DType}), host budget {ByteSize.Format(plan.HostBudget)} (float32)");
        Console.WriteLine($"{"rank",5} {"per adapter",14} {"device slots",13} {"host adapters",14} {"mean energy",12} {"min energy",11}");
        foreach (var r in plan.Ranks)
        {
            var mark = r.Rank == plan.Rank ? "*" : " ";
            Console.WriteLine($"{mark}{r.Rank,4} {ByteSize.Format(r.DeviceBytesPerAdapter),14} {r.DeviceSlots,13} {r.HostAdapters,14} " +
                              $"{(r.MeanRetainedEnergy is { } m ? m.ToString("P2") : "-"),12} {(r.MinRetainedEnergy is { } n ? n.ToString("P2") : "-"),11}");
        }
        if (plan.Adapters.Count > 0)
        {
            Console.WriteLine("  mean energy: the share of ΔW's spectral energy (Σ σᵢ², i ≤ rank, over ‖ΔW‖²) a squeeze to that rank keeps, " +
                              "averaged over each adapter's modules, then over the adapters;");
            Console.WriteLine("  min energy: the same share for the single worst module of any adapter (where the squeeze loses most).");
        }
        foreach (var a in plan.Adapters)
            Console.WriteLine($"  {a.Adapter}: {a.Kind} ranks [{string.Join(',', a.SourceRanks)}] keeps {a.RetainedEnergyAtRank:P2} at rank {plan.Rank}");
    }
}
