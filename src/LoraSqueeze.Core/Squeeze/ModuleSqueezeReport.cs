using LoraSqueeze.Core.Adapters;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>What the squeeze did to one module.</summary>
public sealed record ModuleSqueezeReport(
    string ModulePath,
    AdapterKind SourceKind,
    int SourceRank,
    long OutFeatures,
    long InFeatures,
    int TargetRank,
    string Method,
    double RetainedEnergy,
    double RelativeError,
    double[] LeadingSingularValues);
