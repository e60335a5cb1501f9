namespace LoraSqueeze.Engine.Adapters;

/// <summary>What a load found and what the squeeze kept, as reported by Adapters.Load and Adapters.Get.</summary>
/// <param name="RetainedEnergy">Mean over modules of Σ_{i≤rank}σᵢ²/Σσᵢ².</param>
/// <param name="Slots">Device slots the adapter takes: k when the energy floor squeezed it to k·r, else 1.</param>
/// <param name="MinRetainedEnergy">The worst module's retained energy (what the floor is checked against).</param>
/// <param name="BelowFloor">True when even the cap of slots kept less than the floor and the server was told to serve it anyway.</param>
public sealed record AdapterLoadInfo(
    string SourceKind,
    IReadOnlyList<int> SourceRanks,
    int TargetRank,
    double RetainedEnergy,
    double RelativeError,
    TimeSpan LoadTime,
    TimeSpan SqueezeTime,
    int Slots = 1,
    double MinRetainedEnergy = 1,
    bool BelowFloor = false);
