using LoraSqueeze.LoadTest.Reporting;

namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>
/// One measured window of a comparison: its kind (base, uniform, padded, sweep, uniform-cold), the adapter count, the
/// slot rank, the round it belongs to (1.. for the interleaved base/ours/padded rounds; 0 for one-off windows: the
/// sweep and the cold run) and its report.
/// </summary>
public sealed record ScenarioResult(string Kind, string Layout, int Adapters, int SlotRank, LoadReport Report, int Round = 0);
