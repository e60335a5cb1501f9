using System.Diagnostics;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Model;
using TorchSharp;

namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// Reads any LoRA-family adapter and squeezes it to the requested rank with the squeeze engine (on the loader task,
/// off the engine thread), checking shapes against the base model. An adapter squeezed below the slot rank is padded
/// with zero rows and columns, which leaves ΔW = B·A unchanged, so it fits the uniform slots.
/// With an energy floor (<c>--min-energy</c>) an adapter that would keep less than the floor in any module at the slot
/// rank r is squeezed to k·r instead (the smallest k up to the cap that meets it; <see cref="EnergyFloor"/>) and takes k
/// slots; one that misses the floor even at the cap is refused, naming the energy it would keep, or served at the cap
/// when <paramref name="serveBelowFloor"/> says so. The floor applies to loads at the slot rank; an explicit lower rank
/// (Adapters.Load with a rank) is taken as asked, in one slot.
/// With the padded layout (vLLM/SGLang, for comparisons) the requested rank is ignored: each adapter is "squeezed" to
/// its own largest source rank, which is exact (it only converts any LoRA-family kind to plain A/B factors), kept at
/// that rank in the host tier (as vLLM's CPU cache keeps it) and zero-padded by the model's slots on install.
/// </summary>
public sealed class SqueezingAdapterLoader(string baseModelDir, int slotRank, LoraLayout layout = LoraLayout.Uniform,
    EnergyFloor? floor = null, bool serveBelowFloor = false) : IAdapterLoader
{
    public (LoraWeights Weights, AdapterLoadInfo Info) Load(string adapterId, string directory, int targetRank)
    {
        var watch = Stopwatch.StartNew();
        LoraWeights weights;
        SqueezeReport report;
        bool floored = floor is not null && layout == LoraLayout.Uniform && targetRank == slotRank;
        try
        {
            using var adapter = AdapterReader.Read(directory, baseModelDir);
            int rank = targetRank;
            if (layout == LoraLayout.Padded)
            {
                rank = adapter.Modules.Max(m => m.SourceRank);
                if (rank > slotRank)
                    throw new AdapterFormatException($"source rank {rank} exceeds the padded slot rank {slotRank} (raise --padded-max-rank)");
                // Factored adapters (LoRA, rsLoRA, VeRA, …) already are B·A: install their factors as they are, with no
                // SVD, as vLLM does; only dense kinds (DoRA, full deltas) go through the squeeze engine.
                if (adapter.Modules.All(m => m is FactoredDelta))
                    return Bounded(adapterId, directory, AsIs(adapter, watch));
            }
            (weights, report) = AdapterSqueezer.Squeeze(adapter, rank, new SqueezeOptions { Floor = floored ? floor : null });
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new AdapterLoadException(adapterId, $"{Path.GetFileName(directory)}: {ex.Message}", ex);
        }
        bool below = floored && floor!.Measured(report) < floor.MinEnergy;
        if (below && !serveBelowFloor)
        {
            weights.Dispose();
            var worst = report.Modules.MinBy(m => m.RetainedEnergy)!;
            string kept = floor!.Measure == EnergyFloorMeasure.Mean
                ? $"keeps {report.MeanRetainedEnergy:P1} of its energy on average over modules"
                : $"keeps {worst.RetainedEnergy:P1} of its energy in {worst.ModulePath}";
            throw new AdapterLoadException(adapterId,
                $"{Path.GetFileName(directory)}: {kept} even at rank {report.TargetRank} " +
                $"({report.RankMultiple} slots of rank {slotRank}, the --max-slots-per-adapter cap), below the --min-energy floor of {floor!.MinEnergy:P1}; " +
                "raise the cap, lower the floor, or set Server:BelowEnergyFloor to serve-at-cap", belowEnergyFloor: true);
        }
        // The padded layout's slots take any rank up to theirs; the uniform ones need exactly k·(slot rank).
        var padded = layout == LoraLayout.Padded ? weights : PadToSlotRank(weights, slotRank * report.RankMultiple);
        if (!ReferenceEquals(padded, weights)) weights.Dispose();
        var info = new AdapterLoadInfo(
            SourceKind: report.SourceKind.ToString().ToLowerInvariant(),
            SourceRanks: report.Modules.Select(m => m.SourceRank).Distinct().Order().ToList(),
            TargetRank: report.TargetRank,
            RetainedEnergy: report.MeanRetainedEnergy,
            RelativeError: report.MaxRelativeError,
            LoadTime: watch.Elapsed,
            SqueezeTime: TimeSpan.FromSeconds(report.Seconds),
            Slots: report.RankMultiple,
            MinRetainedEnergy: report.MinRetainedEnergy,
            BelowFloor: below);
        return Bounded(adapterId, directory, (padded, info));
    }

    /// <summary>The loaded factors, unless <see cref="OutputBound"/> refuses them (then freed, and the load fails naming the module).</summary>
    private static (LoraWeights Weights, AdapterLoadInfo Info) Bounded(string adapterId, string directory, (LoraWeights Weights, AdapterLoadInfo Info) loaded)
    {
        try
        {
            OutputBound.Check(loaded.Weights);
            return loaded;
        }
        catch (AdapterFormatException ex)
        {
            loaded.Weights.Dispose();
            throw new AdapterLoadException(adapterId, $"{Path.GetFileName(directory)}: {ex.Message}", ex);
        }
    }

    private static (LoraWeights Weights, AdapterLoadInfo Info) AsIs(LoadedAdapter adapter, Stopwatch watch)
    {
        var modules = adapter.Modules.Cast<FactoredDelta>()
            .Select(m => new LoraModule(m.ModulePath, m.Q.clone(), m.P.clone())) // A = Q [k, in], B = P [out, k]
            .ToList();
        var ranks = adapter.Modules.Select(m => m.SourceRank).Distinct().Order().ToList();
        var info = new AdapterLoadInfo(
            SourceKind: adapter.Kind.ToString().ToLowerInvariant(),
            SourceRanks: ranks,
            TargetRank: ranks[^1],
            RetainedEnergy: 1.0,
            RelativeError: 0.0,
            LoadTime: watch.Elapsed,
            SqueezeTime: TimeSpan.Zero);
        return (new LoraWeights(adapter.Name, modules), info);
    }

    /// <summary>Pads every module to <paramref name="groupRank"/> (the slot rank, or k times it for a k-slot adapter).</summary>
    private static LoraWeights PadToSlotRank(LoraWeights weights, int groupRank)
    {
        if (weights.Modules.All(m => m.Rank == groupRank)) return weights;
        var modules = new List<LoraModule>(weights.Modules.Count);
        foreach (var m in weights.Modules)
        {
            if (m.Rank > groupRank)
                throw new AdapterLoadException(weights.Name, $"module {m.ModulePath} has rank {m.Rank} above the slot rank {groupRank}");
            var a = torch.zeros([groupRank, m.InFeatures], m.A.dtype);
            var b = torch.zeros([m.OutFeatures, groupRank], m.B.dtype);
            using (torch.no_grad())
            {
                using var aHead = a.narrow(0, 0, m.Rank);
                using var bHead = b.narrow(1, 0, m.Rank);
                aHead.copy_(m.A);
                bHead.copy_(m.B);
            }
            modules.Add(new LoraModule(m.ModulePath, a, b));
        }
        return new LoraWeights(weights.Name, modules);
    }
}
