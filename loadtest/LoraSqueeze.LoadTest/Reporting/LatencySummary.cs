namespace LoraSqueeze.LoadTest.Reporting;

/// <summary>Distribution of a latency in seconds.</summary>
public sealed record LatencySummary(int Count, double Mean, double P50, double P90, double P99, double Max);
