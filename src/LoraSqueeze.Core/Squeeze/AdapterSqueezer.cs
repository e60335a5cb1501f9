using System.Diagnostics;
using LoraSqueeze.Core.Adapters;
using TorchSharp;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// Any LoRA-family adapter in, a standard LoRA out with every module at one rank and the scaling folded in
/// (LoRA-Squeeze, arXiv 2602.10993; docs/squeeze.md). The entry point the server and the CLI call.
/// </summary>
public static class AdapterSqueezer
{
    /// <summary>
    /// Reads the PEFT adapter in <paramref name="adapterDir"/> and squeezes it to <paramref name="targetRank"/>.
    /// <paramref name="baseModelDir"/> is needed for DoRA and VeRA; when given, shapes are checked against it.
    /// Throws <see cref="AdapterFormatException"/> / <see cref="UnsupportedAdapterException"/> naming the file or
    /// module, and <see cref="ArgumentOutOfRangeException"/> for a rank ≤ 0. The caller owns the returned weights.
    /// </summary>
    public static (LoraWeights Weights, SqueezeReport Report) LoadAndSqueeze(string adapterDir, int targetRank, SqueezeOptions? options = null, string? baseModelDir = null)
    {
        CheckRank(targetRank);
        using var adapter = AdapterReader.Read(adapterDir, baseModelDir);
        return Squeeze(adapter, targetRank, options ?? new SqueezeOptions());
    }

    /// <summary>Squeezes an adapter already read (the adapter keeps its tensors; the result owns new ones).</summary>
    public static (LoraWeights Weights, SqueezeReport Report) Squeeze(LoadedAdapter adapter, int targetRank, SqueezeOptions options)
    {
        CheckRank(targetRank);
        if (options.Energy is not null && options.ParamBudget is not null)
            throw new ArgumentException("choose either an energy threshold or a parameter budget, not both");
        if (options.Floor is { } requested)
        {
            requested.Validate();
            if (options.Energy is not null || options.ParamBudget is not null)
                throw new ArgumentException("an energy floor keeps the squeeze uniform; it cannot be combined with --energy or --param-budget");
        }
        foreach (var m in adapter.Modules) CheckFits(m, targetRank);
        var clock = Stopwatch.StartNew();
        int n = adapter.Modules.Count;
        var svds = new SpectralDecomposition?[n];
        var methods = new string[n];
        var modules = new LoraModule?[n];
        try
        {
            int done = 0;
            var gate = new Lock();
            ModuleParallel.For(n, options.Parallelism, i =>
            {
                var m = adapter.Modules[i];
                (svds[i], methods[i]) = Decompose(m, targetRank, options);
                lock (gate) options.OnModule?.Invoke(m.ModulePath, ++done, n);
            });
            int multiple = 1;
            if (options.Floor is { } floor)
            {
                int rank = targetRank;
                var energies = svds.Select(svd => (Func<int, double>)svd!.RetainedEnergy).ToList();
                if (floor.MaxMultiple > 1 && floor.MultipleFor(energies, rank) > 1)
                {
                    // Below the floor at r: a truncated (randomized) spectrum holds only r + oversample values, so those
                    // modules are decomposed again wide enough to choose k. Adapters that meet the floor pay nothing.
                    ModuleParallel.For(n, options.Parallelism, i =>
                    {
                        var m = adapter.Modules[i];
                        if (HoldsSpectrumUpTo(svds[i]!, m, rank * floor.MaxMultiple)) return;
                        svds[i]!.Dispose();
                        (svds[i], methods[i]) = Decompose(m, rank * floor.MaxMultiple, options);
                    });
                    energies = svds.Select(svd => (Func<int, double>)svd!.RetainedEnergy).ToList();
                }
                // One k for the whole adapter: every module has rank k·r, so the factors split into k slots of rank r.
                multiple = floor.MultipleFor(energies, rank);
                targetRank *= multiple;
            }
            var ranks = ChooseRanks(Enumerable.Range(0, n).Select(i => (svds[i]!, adapter.Modules[i])).ToList(), targetRank, options);
            ModuleParallel.For(n, options.Parallelism, i =>
            {
                var m = adapter.Modules[i];
                modules[i] = BalancedSplit.ToModule(m.ModulePath, svds[i]!, ranks[i], m.OutFeatures, m.InFeatures);
            });
            var reports = new List<ModuleSqueezeReport>();
            for (int i = 0; i < n; i++)
            {
                var (m, svd, r) = (adapter.Modules[i], svds[i]!, ranks[i]);
                reports.Add(new ModuleSqueezeReport(m.ModulePath, m.Kind, m.SourceRank, m.OutFeatures, m.InFeatures, r, methods[i],
                    svd.RetainedEnergy(r), svd.RelativeError(r), svd.Values().Take(options.LeadingValues).ToArray()));
            }
            bool uniform = options.Energy is null && options.ParamBudget is null;
            var weights = new LoraWeights(adapter.Name, modules.Select(m => m!).ToList());
            return (weights, SqueezeReport.From(adapter.Name, adapter.Kind, targetRank, uniform, clock.Elapsed.TotalSeconds, reports) with { RankMultiple = multiple });
        }
        catch
        {
            foreach (var m in modules)
            {
                m?.A.Dispose();
                m?.B.Dispose();
            }
            throw;
        }
        finally
        {
            foreach (var svd in svds) svd?.Dispose();
        }
    }

    /// <summary>
    /// The spectrum of one module by the chosen method: exact factored (all values, Gram path), randomized (leading
    /// rank + oversample) or dense (all values). Returns the method's name for the report. An exact result borrows the
    /// module's factors, so dispose it before the module.
    /// </summary>
    public static (SpectralDecomposition Svd, string Method) Decompose(IModuleDelta module, int rank, SqueezeOptions options)
    {
        var method = options.Method;
        if (method == SqueezeMethod.Auto) method = module.Factors is null ? SqueezeMethod.Rsvd : SqueezeMethod.Exact;
        return method switch
        {
            SqueezeMethod.Exact => module.Factors is { } f
                ? (GramFactoredSvd.Compute(f.P, f.Q), "exact")
                : throw new AdapterFormatException($"module {module.ModulePath}: {module.Kind} has no factored form, so --method exact cannot squeeze it; use auto or rsvd"),
            SqueezeMethod.Rsvd => (RandomizedSvd.Compute(module, rank, options.Oversample, options.PowerIterations, options.Seed), "rsvd"),
            SqueezeMethod.Dense => (DenseSvd.Compute(module), "dense"),
            _ => throw new ArgumentOutOfRangeException(nameof(options), method, "unknown squeeze method"),
        };
    }

    /// <summary>True when <paramref name="svd"/> holds every singular value up to rank <paramref name="rank"/> (or all there are).</summary>
    private static bool HoldsSpectrumUpTo(SpectralDecomposition svd, IModuleDelta m, int rank) =>
        svd.Count >= Math.Min(rank, Math.Min(m.OutFeatures, m.InFeatures)) || svd.RetainedEnergy(svd.Count) >= 1 - 1e-12;

    private static int[] ChooseRanks(List<(SpectralDecomposition Svd, IModuleDelta Module)> items, int targetRank, SqueezeOptions options)
    {
        if (options.Energy is { } e)
            return items.Select(x => Math.Max(1, RankSelection.ByEnergy(x.Svd.Values(), x.Svd.TotalEnergy, e, targetRank))).ToArray();
        if (options.ParamBudget is { } budget)
        {
            var ranks = RankSelection.ByParamBudget(items.Select(x => (x.Svd.Values(), x.Module.OutFeatures, x.Module.InFeatures)).ToList(), budget, targetRank);
            // PEFT requires r ≥ 1; a module the budget skipped keeps one (near-)zero direction.
            return ranks.Select(r => Math.Max(1, r)).ToArray();
        }
        return Enumerable.Repeat(targetRank, items.Count).ToArray();
    }

    private static void CheckRank(int targetRank)
    {
        if (targetRank <= 0)
            throw new ArgumentOutOfRangeException(nameof(targetRank), targetRank, $"target rank must be positive, got {targetRank}");
    }

    private static void CheckFits(IModuleDelta m, int targetRank)
    {
        long limit = Math.Min(m.OutFeatures, m.InFeatures);
        if (targetRank > limit)
            throw new AdapterFormatException($"module {m.ModulePath}: target rank {targetRank} exceeds the module's dimensions [{m.OutFeatures}, {m.InFeatures}] (at most {limit})");
    }

    /// <summary>ΔW of a squeezed module, B·A [out, in] (for checks).</summary>
    public static torch.Tensor Dense(LoraModule module) => module.B.matmul(module.A);
}
