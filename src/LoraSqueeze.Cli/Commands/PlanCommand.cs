using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Core.Units;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Lora;
using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Training.Squeeze;
using TorchSharp;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze plan --model DIR --rank R --budget SIZE [--host-budget SIZE] [--adapters DIR ...] [--dtype D]
/// [--data FILE | --corpus NAME] [--min-energy E [--max-slots-per-adapter K] [--energy-floor-measure M]] [--json]</c>:
/// from the model's shapes, how many adapters fit in the device budget (slots) and the host budget at each candidate
/// rank; with adapters given, what each rank keeps of their spectral energy (each adapter is decomposed once, see
/// <see cref="AdapterSpectrum"/>); with held-out text, what each rank costs in outputs (<see cref="SqueezeFidelity"/>:
/// mean KL to the unsqueezed adapter, top-1 agreement); with an energy floor, how many slots each adapter would take
/// (as <c>serve --min-energy</c> decides it) and so how many adapters the device budget really holds.
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
        var data = new Option<string?>("--data") { Description = "Held-out text: also measure each rank's KL and top-1 agreement against the unsqueezed adapters." };
        var corpus = new Option<string?>("--corpus") { Description = "Held-out text from a corpus by name (instead of --data)." };
        var window = new Option<int>("--window") { Description = "Tokens per evaluation window (with --data).", DefaultValueFactory = _ => 64 };
        var windows = new Option<int>("--windows") { Description = "Windows at most (with --data).", DefaultValueFactory = _ => 8 };
        var minEnergy = new Option<double?>("--min-energy") { Description = "The serve-time energy floor to plan for: slots each adapter takes at each rank." };
        var maxSlots = new Option<int>("--max-slots-per-adapter") { Description = "The floor's cap on slots per adapter.", DefaultValueFactory = _ => 4 };
        var measure = new Option<string>("--energy-floor-measure") { Description = "worst-module (default) or mean.", DefaultValueFactory = _ => "worst-module" };
        measure.AcceptOnlyFromAmong("worst-module", "mean");
        var plot = new Option<string?>("--plot") { Description = "With --data: write a PNG of each adapter's KL against rank and against retained energy." };
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var cmd = new Command("plan", "How many adapters fit per tier at each rank, and what a rank costs in retained energy and (with --data) in outputs.")
        {
            model, rank, budget, hostBudget, adapters, dtype, data, corpus, window, windows, minEnergy, maxSlots, measure, plot, json,
        };
        cmd.SetAction(parse => CliErrors.Run(() =>
        {
            var paths = parse.GetValue(adapters) ?? [];
            string? file = parse.GetValue(data), name = parse.GetValue(corpus);
            FidelityData? fidelity = null;
            if (file is not null || name is not null)
            {
                if (paths.Length == 0) throw new ArgumentException("--data and --corpus measure adapters: give --adapters too");
                if (parse.GetValue(window) < 2) throw new ArgumentException("--window must be at least 2 tokens");
                if (parse.GetValue(windows) < 1) throw new ArgumentException("--windows must be at least 1");
                fidelity = new FidelityData(EvalCommand.HeldOutText(file, name), parse.GetValue(window), parse.GetValue(windows), parse.GetValue(json) ? null : Console.Error,
                    parse.GetValue(plot));
            }
            else if (parse.GetValue(plot) is not null) throw new ArgumentException("--plot draws what --data measures: give --data or --corpus too");
            EnergyFloor? floor = null;
            if (parse.GetValue(minEnergy) is { } e)
            {
                floor = new EnergyFloor(e, parse.GetValue(maxSlots), parse.GetValue(measure) == "mean" ? EnergyFloorMeasure.Mean : EnergyFloorMeasure.WorstModule);
                try
                {
                    floor.Validate();
                }
                catch (ArgumentOutOfRangeException ex)
                {
                    throw new ArgumentException(e is > 0 and <= 1 ? $"--max-slots-per-adapter must be at least 1 (got {floor.MaxMultiple})" : $"--min-energy must be in (0, 1] (got {e})", ex);
                }
            }
            var plan = Build(parse.GetValue(model)!, parse.GetValue(rank), ByteSize.Parse(parse.GetValue(budget)!),
                parse.GetValue(hostBudget) is { } hb ? ByteSize.Parse(hb) : null, paths, parse.GetValue(dtype)!, fidelity, floor);
            if (parse.GetValue(json)) Console.WriteLine(JsonSerializer.Serialize(plan, CliJson.Options));
            else Print(plan);
            return 0;
        }));
        root.Subcommands.Add(cmd);
    }

    /// <summary>Held-out text for the output measure, and where its progress goes (null: nowhere).</summary>
    public sealed record FidelityData(string Text, int Window, int MaxWindows, TextWriter? Progress, string? PlotPath = null);

    /// <param name="MeanKl">Mean over the adapters of their mean KL (nats per token) to the unsqueezed adapter at this rank (with --data).</param>
    /// <param name="MaxKl">The largest adapter's mean KL at this rank (with --data).</param>
    /// <param name="Top1Agreement">Mean over the adapters of the share of positions whose arg-max token is unchanged (with --data).</param>
    /// <param name="SlotsPerAdapter">Mean slots an adapter takes at this rank under the floor (with --min-energy).</param>
    /// <param name="DeviceAdapters">Device slots ÷ <paramref name="SlotsPerAdapter"/>: adapters resident at once (with --min-energy).</param>
    public sealed record RankRow(int Rank, long DeviceBytesPerAdapter, long HostBytesPerAdapter, long DeviceSlots, long HostAdapters,
        double? MeanRetainedEnergy, double? MinRetainedEnergy, double? MeanKl = null, double? MaxKl = null, double? Top1Agreement = null,
        double? SlotsPerAdapter = null, long? DeviceAdapters = null);

    /// <param name="Slots">Slots it takes at the plan's rank under the floor (1 without one).</param>
    /// <param name="RetainedEnergyOnSlots">Mean energy it keeps on those slots (rank Slots·R).</param>
    public sealed record AdapterRow(string Adapter, string Kind, IReadOnlyList<int> SourceRanks, double RetainedEnergyAtRank,
        double MinRetainedEnergyAtRank, int Slots = 1, double? RetainedEnergyOnSlots = null, double? MeanKlAtRank = null, double? Top1AgreementAtRank = null);

    public sealed record Plan(string Model, int Rank, long DeviceBudget, long HostBudget, string DType, long ParametersPerRank,
        IReadOnlyList<RankRow> Ranks, IReadOnlyList<AdapterRow> Adapters, EnergyFloor? Floor = null, int? Positions = null);

    public static Plan Build(string modelDir, int rank, long deviceBudget, long? hostBudget, IReadOnlyList<string> adapterPaths, string dtype,
        FidelityData? fidelity = null, EnergyFloor? floor = null)
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
        // One decomposition per adapter; the retained energy at every candidate rank (and, under a floor, at its
        // multiples) is read off its spectrum.
        int sketch = (int)Math.Min(maxRank, (long)ranks[^1] * (floor?.MaxMultiple ?? 1));
        var spectra = dirs.Select(dir => AdapterSpectrum.Read(dir, modelDir, sketch)).ToList();
        var measured = fidelity is null ? null : Measure(modelDir, dirs, ranks, fidelity);
        if (measured is not null && fidelity!.PlotPath is { } png) Plotting.FidelityPlot.WriteMany(measured, png);
        int SlotsFor(AdapterSpectrum x, int r) => floor is null ? 1 : floor.MultipleFor(x.ModuleEnergies, r);
        var rows = ranks.Select((r, ri) =>
        {
            // Every module's A and B at rank r in the slot dtype (int8: plus its per-row scales), as the server's slots.
            long device = perRank * r * SlotDTypes.ElementBytes(slotType) + modules * SlotDTypes.ScaleBytesPerModule(slotType, r);
            long hostBytes = perRank * r * 4; // the host tier keeps float32 factors
            double? slotsPer = floor is null || spectra.Count == 0 ? null : spectra.Average(x => SlotsFor(x, r));
            return new RankRow(r, device, hostBytes, deviceBudget / device, host / hostBytes,
                spectra.Count == 0 ? null : spectra.Average(x => x.MeanRetainedEnergy(r)),
                spectra.Count == 0 ? null : spectra.Min(x => x.MinRetainedEnergy(r)),
                measured?.Average(m => m.Rows[ri].MeanKl), measured?.Max(m => m.Rows[ri].MeanKl), measured?.Average(m => m.Rows[ri].Top1Agreement),
                slotsPer, slotsPer is { } k ? (long)Math.Floor(deviceBudget / device / k) : null);
        }).ToList();
        int at = ranks.IndexOf(rank);
        var adapterRows = spectra.Select((x, i) =>
        {
            int k = SlotsFor(x, rank);
            return new AdapterRow(x.Adapter, x.Kind.ToString().ToLowerInvariant(), x.SourceRanks, x.MeanRetainedEnergy(rank), x.MinRetainedEnergy(rank),
                k, floor is null ? null : x.MeanRetainedEnergy(k * rank), measured?[i].Rows[at].MeanKl, measured?[i].Rows[at].Top1Agreement);
        }).ToList();
        return new Plan(Path.GetFullPath(modelDir), rank, deviceBudget, host, dtype, perRank, rows, adapterRows, floor, measured?[0].Positions);
    }

    /// <summary>Each adapter's fidelity at every rank on the same windows of the held-out text, the model loaded once.</summary>
    private static List<FidelityResult> Measure(string modelDir, List<string> dirs, List<int> ranks, FidelityData data)
    {
        var tokenizer = TokenizerLoader.FromDirectory(modelDir);
        var windows = SqueezeFidelity.Windows(tokenizer.Encode(data.Text, addSpecialTokens: false), data.Window, data.MaxWindows);
        if (windows.Count == 0) throw new ArgumentException($"the held-out text is shorter than one window of {data.Window} tokens");
        using var model = CausalLM.Load(modelDir, torch.CPU, new ModelLoadOptions { AdapterRank = 1, AdapterSlots = 1 });
        var results = new List<FidelityResult>(dirs.Count);
        for (int i = 0; i < dirs.Count; i++)
        {
            using var loaded = AdapterReader.Read(dirs[i], modelDir);
            results.Add(SqueezeFidelity.Measure(model, loaded, windows, ranks, new SqueezeOptions()));
            data.Progress?.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  plan: measured {Path.GetFileName(dirs[i])} ({i + 1}/{dirs.Count}) on {windows.Count} windows"));
        }
        return results;
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
        var inv = CultureInfo.InvariantCulture;
        bool kl = plan.Ranks.Any(r => r.MeanKl is not null), floor = plan.Floor is not null;
        Console.WriteLine($"{plan.Model}: {plan.ParametersPerRank:N0} LoRA parameters per unit of rank; device budget " +
                          $"{ByteSize.Format(plan.DeviceBudget)} ({plan.DType}), host budget {ByteSize.Format(plan.HostBudget)} (float32)");
        Console.WriteLine($"{"rank",5} {"per adapter",14} {"device slots",13} {"host adapters",14} {"mean energy",12} {"min energy",11}" +
                          (kl ? $" {"mean KL",10} {"max KL",10} {"top-1",7}" : "") + (floor ? $" {"slots/adapter",14} {"on device",10}" : ""));
        foreach (var r in plan.Ranks)
        {
            var mark = r.Rank == plan.Rank ? "*" : " ";
            string line = $"{mark}{r.Rank,4} {ByteSize.Format(r.DeviceBytesPerAdapter),14} {r.DeviceSlots,13} {r.HostAdapters,14} " +
                          $"{(r.MeanRetainedEnergy is { } m ? m.ToString("P2", inv) : "-"),12} {(r.MinRetainedEnergy is { } n ? n.ToString("P2", inv) : "-"),11}";
            if (kl) line += string.Create(inv, $" {r.MeanKl,10:F4} {r.MaxKl,10:F4} {r.Top1Agreement,7:P1}");
            if (floor) line += string.Create(inv, $" {r.SlotsPerAdapter,14:F2} {r.DeviceAdapters,10}");
            Console.WriteLine(line);
        }
        if (plan.Adapters.Count > 0)
        {
            Console.WriteLine("  mean energy: the share of ΔW's spectral energy (Σ σᵢ², i ≤ rank, over ‖ΔW‖²) a squeeze to that rank keeps, " +
                              "averaged over each adapter's modules, then over the adapters;");
            Console.WriteLine("  min energy: the same share for the single worst module of any adapter (where the squeeze loses most).");
        }
        if (kl)
        {
            Console.WriteLine($"  mean KL / max KL: KL(unsqueezed ‖ squeezed) of the next-token distributions in nats per token on {plan.Positions} held-out " +
                              "positions, mean over the adapters and the worst adapter; top-1: share of positions whose most likely token is unchanged.");
        }
        if (plan.Floor is { } f)
        {
            Console.WriteLine(string.Create(inv, $"  slots/adapter: with serve --min-energy {f.MinEnergy} ({(f.Measure == EnergyFloorMeasure.Mean ? "mean over modules" : "every module")}), " +
                              $"each adapter takes the smallest k ≤ {f.MaxMultiple} slots whose rank k·r keeps it; on device: adapters resident at once."));
        }
        foreach (var a in plan.Adapters)
        {
            string line = $"  {a.Adapter}: {a.Kind} ranks [{string.Join(',', a.SourceRanks)}] keeps {a.RetainedEnergyAtRank.ToString("P2", inv)} " +
                          $"(worst module {a.MinRetainedEnergyAtRank.ToString("P2", inv)}) at rank {plan.Rank}";
            if (a.MeanKlAtRank is { } k) line += string.Create(inv, $", KL {Math.Max(0, k):F4}, top-1 {a.Top1AgreementAtRank:P1}");  // rounding can leave −1e-9
            if (plan.Floor is not null) line += string.Create(inv, $"; {a.Slots} slot{(a.Slots == 1 ? "" : "s")} under the floor ({a.RetainedEnergyOnSlots:P2} at rank {a.Slots * plan.Rank})");
            Console.WriteLine(line);
        }
    }
}
