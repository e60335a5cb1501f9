using LoraSqueeze.LoadTest.Running;

namespace LoraSqueeze.LoadTest.Reporting;

/// <summary>
/// The outcome of one run. Throughput counts successful requests and their generated tokens over the measured span
/// (first send to last completion), so a drained tail is included and an idle tail is not.
/// </summary>
public sealed record LoadReport
{
    public required string Name { get; init; }
    public required string Target { get; init; }
    public required string Mode { get; init; }
    public required string Workload { get; init; }
    public int Sent { get; init; }
    public int Succeeded { get; init; }
    public int Failed { get; init; }
    public required IReadOnlyDictionary<string, int> ErrorsByStatus { get; init; }
    public int AdapterRequests { get; init; }
    public int BaseRequests { get; init; }
    public int DistinctAdapters { get; init; }
    public double SpanSeconds { get; init; }
    public double RequestsPerSecond { get; init; }
    public double OutputTokensPerSecond { get; init; }

    /// <summary>Server-counted tokens/s in the saturated middle of a closed-loop run (<see cref="SteadyStateProbe"/>); NaN when not measured.</summary>
    public double SteadyOutputTokensPerSecond { get; init; } = double.NaN;

    /// <summary>The steady figure when measured, otherwise the end-to-end one: what comparisons divide.</summary>
    public double ComparedTokensPerSecond => double.IsNaN(SteadyOutputTokensPerSecond) ? OutputTokensPerSecond : SteadyOutputTokensPerSecond;
    public double PromptTokensPerSecond { get; init; }
    public long OutputTokens { get; init; }
    public long PromptTokens { get; init; }
    public required LatencySummary TimeToFirstToken { get; init; }
    public required LatencySummary Latency { get; init; }
    public ServerCounters? Server { get; init; }
    public double[] LoadAverageBefore { get; init; } = [];
    public double[] LoadAverageAfter { get; init; } = [];

    public static LoadReport From(string name, string target, string mode, string workload, IReadOnlyList<RequestResult> results,
        ServerCounters? server, double[] loadBefore, double[] loadAfter, double steadyOutputTokensPerSecond = double.NaN)
    {
        var ok = results.Where(r => r.Ok).ToList();
        double span = results.Count == 0 ? 0 : results.Max(r => r.EndSeconds) - results.Min(r => r.StartSeconds);
        long outTokens = ok.Sum(r => (long)r.CompletionTokens);
        long promptTokens = ok.Sum(r => (long)r.PromptTokens);
        return new LoadReport
        {
            Name = name,
            Target = target,
            Mode = mode,
            Workload = workload,
            Sent = results.Count,
            Succeeded = ok.Count,
            Failed = results.Count - ok.Count,
            ErrorsByStatus = results.Where(r => !r.Ok).GroupBy(r => r.Status).OrderBy(g => g.Key, StringComparer.Ordinal)
                .ToDictionary(g => g.Key, g => g.Count()),
            AdapterRequests = results.Count(r => r.AdapterId.Length > 0),
            BaseRequests = results.Count(r => r.AdapterId.Length == 0),
            DistinctAdapters = results.Where(r => r.AdapterId.Length > 0).Select(r => r.AdapterId).Distinct().Count(),
            SpanSeconds = span,
            RequestsPerSecond = span > 0 ? ok.Count / span : 0,
            OutputTokensPerSecond = span > 0 ? outTokens / span : 0,
            SteadyOutputTokensPerSecond = steadyOutputTokensPerSecond,
            PromptTokensPerSecond = span > 0 ? promptTokens / span : 0,
            OutputTokens = outTokens,
            PromptTokens = promptTokens,
            TimeToFirstToken = Percentiles.Summarize(ok.Where(r => r.TtftSeconds is not null).Select(r => r.TtftSeconds!.Value).ToList()),
            Latency = Percentiles.Summarize(ok.Select(r => r.LatencySeconds).ToList()),
            Server = server,
            LoadAverageBefore = loadBefore,
            LoadAverageAfter = loadAfter,
        };
    }
}
