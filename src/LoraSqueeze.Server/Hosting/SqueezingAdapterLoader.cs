using System.Diagnostics;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Server.Adapters;
using TorchSharp;

namespace LoraSqueeze.Server.Hosting;

/// <summary>
/// Reads any LoRA-family adapter and squeezes it to the requested rank with the squeeze engine (on the loader task,
/// off the engine thread), checking shapes against the base model. An adapter squeezed below the slot rank is padded
/// with zero rows and columns, which leaves ΔW = B·A unchanged, so it fits the uniform slots.
/// </summary>
internal sealed class SqueezingAdapterLoader(string baseModelDir, int slotRank) : IAdapterLoader
{
    public (LoraWeights Weights, AdapterLoadInfo Info) Load(string adapterId, string directory, int targetRank)
    {
        var watch = Stopwatch.StartNew();
        LoraWeights weights;
        SqueezeReport report;
        try
        {
            (weights, report) = AdapterSqueezer.LoadAndSqueeze(directory, targetRank, new SqueezeOptions(), baseModelDir);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            throw new AdapterLoadException(adapterId, $"{Path.GetFileName(directory)}: {ex.Message}", ex);
        }
        var padded = PadToSlotRank(weights);
        if (!ReferenceEquals(padded, weights)) weights.Dispose();
        var info = new AdapterLoadInfo(
            SourceKind: report.SourceKind.ToString().ToLowerInvariant(),
            SourceRanks: report.Modules.Select(m => m.SourceRank).Distinct().Order().ToList(),
            TargetRank: report.TargetRank,
            RetainedEnergy: report.MeanRetainedEnergy,
            RelativeError: report.MaxRelativeError,
            LoadTime: watch.Elapsed,
            SqueezeTime: TimeSpan.FromSeconds(report.Seconds));
        return (padded, info);
    }

    private LoraWeights PadToSlotRank(LoraWeights weights)
    {
        if (weights.Modules.All(m => m.Rank == slotRank)) return weights;
        var modules = new List<LoraModule>(weights.Modules.Count);
        foreach (var m in weights.Modules)
        {
            if (m.Rank > slotRank)
                throw new AdapterLoadException(weights.Name, $"module {m.ModulePath} has rank {m.Rank} above the slot rank {slotRank}");
            var a = torch.zeros([slotRank, m.InFeatures], m.A.dtype);
            var b = torch.zeros([m.OutFeatures, slotRank], m.B.dtype);
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
