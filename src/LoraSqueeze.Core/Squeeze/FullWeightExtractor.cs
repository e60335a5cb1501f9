using System.Diagnostics;
using LoraSqueeze.Core.Adapters;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// Extracts a rank-r LoRA from a full fine-tune: ΔW = W_tuned − W_base per 2-D weight present in both (embeddings
/// and lm_head excluded: they are lookup tables, not LoRA targets here), by randomized SVD through
/// <see cref="FullWeightDelta"/>, one module at a time so only one pair of weights is in memory.
/// </summary>
public static class FullWeightExtractor
{
    public static (LoraWeights Weights, SqueezeReport Report) Extract(string baseDir, string tunedDir, int rank, SqueezeOptions? options = null)
    {
        options ??= new SqueezeOptions();
        if (rank <= 0) throw new ArgumentOutOfRangeException(nameof(rank), rank, $"target rank must be positive, got {rank}");
        using var baseModel = BaseModelWeights.Open(baseDir);
        using var tuned = BaseModelWeights.Open(tunedDir);
        var modules = tuned.MatrixModules
            .Where(m => !m.EndsWith("embed_tokens", StringComparison.Ordinal) && !m.EndsWith("lm_head", StringComparison.Ordinal))
            .Order(StringComparer.Ordinal).ToList();
        if (modules.Count == 0) throw new AdapterFormatException($"{tunedDir}: no linear weights found");
        var clock = Stopwatch.StartNew();
        var loras = new List<LoraModule>();
        var reports = new List<ModuleSqueezeReport>();
        int index = 0;
        foreach (var m in modules)
        {
            var shape = tuned.WeightShape(m)!;
            baseModel.CheckFits(m, shape[0], shape[1], fanInFanOut: false);
            using var delta = new FullWeightDelta(m, tuned.ReadWeight(m), baseModel.ReadWeight(m));
            if (rank > Math.Min(delta.OutFeatures, delta.InFeatures))
                throw new AdapterFormatException($"module {m}: target rank {rank} exceeds the module's dimensions [{delta.OutFeatures}, {delta.InFeatures}]");
            var (svd, method) = AdapterSqueezer.Decompose(delta, rank, options.Method == SqueezeMethod.Exact ? options with { Method = SqueezeMethod.Rsvd } : options);
            using (svd)
            {
                loras.Add(BalancedSplit.ToModule(m, svd, rank, delta.OutFeatures, delta.InFeatures));
                reports.Add(new ModuleSqueezeReport(m, AdapterKind.FullDelta, delta.SourceRank, delta.OutFeatures, delta.InFeatures, rank, method,
                    svd.RetainedEnergy(rank), svd.RelativeError(rank), svd.Values().Take(options.LeadingValues).ToArray()));
            }
            options.OnModule?.Invoke(m, ++index, modules.Count);
        }
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(tunedDir)));
        return (new LoraWeights(name, loras), SqueezeReport.From(name, AdapterKind.FullDelta, rank, true, clock.Elapsed.TotalSeconds, reports));
    }
}
