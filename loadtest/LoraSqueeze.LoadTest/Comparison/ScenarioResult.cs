using LoraSqueeze.LoadTest.Reporting;

namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>One scenario of a comparison: its kind (base, uniform, padded, sweep), the adapter count and its report.</summary>
public sealed record ScenarioResult(string Kind, string Layout, int Adapters, int SlotRank, LoadReport Report);
