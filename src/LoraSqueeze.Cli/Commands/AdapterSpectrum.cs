using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// The singular-value spectrum of every module of one adapter, computed once with the squeeze engine's own
/// decomposition (<see cref="AdapterSqueezer.Decompose"/>), so `plan` reads the retained energy at every candidate rank
/// off it instead of squeezing the adapter again per rank. For LoRA modules (exact factored SVD, every value) the
/// numbers equal what a squeeze to that rank reports; for modules without factors (randomized SVD) the spectrum is
/// sketched once at the largest rank asked for, which is at least as accurate at the smaller ranks.
/// </summary>
public sealed class AdapterSpectrum
{
    private readonly IReadOnlyList<(double[] Values, double TotalEnergy)> _modules;

    private AdapterSpectrum(string adapter, AdapterKind kind, IReadOnlyList<int> sourceRanks,
        IReadOnlyList<(double[] Values, double TotalEnergy)> modules)
    {
        Adapter = adapter;
        Kind = kind;
        SourceRanks = sourceRanks;
        _modules = modules;
    }

    /// <summary>Folder name of the adapter.</summary>
    public string Adapter { get; }

    public AdapterKind Kind { get; }

    /// <summary>Distinct source ranks of its modules, ascending.</summary>
    public IReadOnlyList<int> SourceRanks { get; }

    /// <summary>Reads the adapter in <paramref name="adapterDir"/> and decomposes each module up to <paramref name="maxRank"/>.</summary>
    public static AdapterSpectrum Read(string adapterDir, string baseModelDir, int maxRank)
    {
        using var adapter = AdapterReader.Read(adapterDir, baseModelDir);
        var options = new SqueezeOptions();
        var modules = new List<(double[], double)>(adapter.Modules.Count);
        foreach (var m in adapter.Modules)
        {
            int rank = (int)Math.Min(maxRank, Math.Min(m.OutFeatures, m.InFeatures));
            var (svd, _) = AdapterSqueezer.Decompose(m, rank, options);
            using (svd) modules.Add((svd.Values(), svd.TotalEnergy));
        }
        var sourceRanks = adapter.Modules.Select(m => m.SourceRank).Distinct().Order().ToList();
        return new AdapterSpectrum(Path.GetFileName(adapterDir), adapter.Kind, sourceRanks, modules);
    }

    /// <summary>Mean over modules of Σ_{i≤r} σᵢ² / ‖ΔW‖²_F (as <see cref="SqueezeReport.MeanRetainedEnergy"/>).</summary>
    public double MeanRetainedEnergy(int rank) => _modules.Count == 0 ? 1 : _modules.Average(m => Retained(m, rank));

    /// <summary>Each module's retained energy as a function of rank (what an <see cref="EnergyFloor"/> chooses k from).</summary>
    public IReadOnlyList<Func<int, double>> ModuleEnergies => _modules.Select(m => (Func<int, double>)(r => Retained(m, r))).ToList();

    /// <summary>Least retained energy of any module at <paramref name="rank"/>.</summary>
    public double MinRetainedEnergy(int rank) => _modules.Count == 0 ? 1 : _modules.Min(m => Retained(m, rank));

    // Same formula as SpectralDecomposition.RetainedEnergy, on the values copied out of it.
    private static double Retained((double[] Values, double TotalEnergy) m, int rank)
    {
        if (m.TotalEnergy <= 0) return 1.0;
        double kept = 0;
        for (int i = 0; i < Math.Min(rank, m.Values.Length); i++) kept += m.Values[i] * m.Values[i];
        return Math.Clamp(kept / m.TotalEnergy, 0, 1);
    }
}
