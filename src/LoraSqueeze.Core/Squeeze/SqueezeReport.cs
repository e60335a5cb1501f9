using LoraSqueeze.Core.Adapters;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>Per-adapter summary of a squeeze plus every module's report.</summary>
public sealed record SqueezeReport(
    string Adapter,
    AdapterKind SourceKind,
    int TargetRank,
    bool Uniform,
    int ModuleCount,
    double MeanRetainedEnergy,
    double MinRetainedEnergy,
    double MaxRelativeError,
    double Seconds,
    IReadOnlyList<ModuleSqueezeReport> Modules)
{
    /// <summary>
    /// With an <see cref="EnergyFloor"/>: the multiple k of the slot rank the adapter was squeezed to
    /// (<see cref="TargetRank"/> = k·slot rank); 1 otherwise.
    /// </summary>
    public int RankMultiple { get; init; } = 1;

    /// <summary>Builds the summary from module reports.</summary>
    public static SqueezeReport From(string adapter, AdapterKind kind, int targetRank, bool uniform, double seconds, IReadOnlyList<ModuleSqueezeReport> modules) =>
        new(adapter, kind, targetRank, uniform, modules.Count,
            modules.Count == 0 ? 1 : modules.Average(m => m.RetainedEnergy),
            modules.Count == 0 ? 1 : modules.Min(m => m.RetainedEnergy),
            modules.Count == 0 ? 0 : modules.Max(m => m.RelativeError),
            seconds, modules);
}
