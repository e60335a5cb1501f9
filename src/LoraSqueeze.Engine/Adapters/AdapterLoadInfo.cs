namespace LoraSqueeze.Engine.Adapters;

/// <summary>What a load found and what the squeeze kept, as reported by Adapters.Load and Adapters.Get.</summary>
public sealed record AdapterLoadInfo(
    string SourceKind,
    IReadOnlyList<int> SourceRanks,
    int TargetRank,
    double RetainedEnergy,
    double RelativeError,
    TimeSpan LoadTime,
    TimeSpan SqueezeTime);
