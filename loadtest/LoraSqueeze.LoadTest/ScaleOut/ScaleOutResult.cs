namespace LoraSqueeze.LoadTest.ScaleOut;

/// <summary>One routing policy's run: the load seen at the front and each replica's adapter counters.</summary>
public sealed record PolicyResult(
    string Policy,
    int Requests,
    int Failed,
    double RequestsPerSecond,
    double TokensPerSecond,
    double TtftP50,
    double TtftP99,
    IReadOnlyList<double> LoadsPerReplica,
    IReadOnlyList<double> RequestsPerReplica,
    double DeviceHitRate,
    double HostHitRate,
    int DistinctAdaptersRequested)
{
    public double TotalLoads => LoadsPerReplica.Sum();
}

/// <summary>
/// One replica killed (kill -9) mid-run: what failed, and how soon requests succeeded again. Timeline: per second of
/// the run, requests that ended OK and failed.
/// </summary>
public sealed record FailoverResult(
    string Policy,
    string Killed,
    double KilledAtSeconds,
    int Requests,
    int Failed,
    IReadOnlyDictionary<string, int> FailuresByStatus,
    double? FirstFailureSeconds,
    double? LastFailureSeconds,
    IReadOnlyList<int> OkPerSecond,
    IReadOnlyList<int> FailedPerSecond);

public sealed record ScaleOutResult(
    string Command,
    string Machine,
    DateTimeOffset When,
    ScaleOutSettings Settings,
    long AdapterBytesAtTargetRank,
    IReadOnlyList<PolicyResult> Policies,
    FailoverResult Failover);
