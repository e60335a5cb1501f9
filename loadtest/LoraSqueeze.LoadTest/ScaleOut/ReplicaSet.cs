using System.Globalization;
using System.Text.Json;
using LoraSqueeze.LoadTest.Running;
using LoraSqueeze.Testing;

namespace LoraSqueeze.LoadTest.ScaleOut;

/// <summary>
/// One run of <c>deploy/local/replicas.sh</c>: started, waited for ("ready:"), described by its replicas.json, and
/// stopped with SIGTERM so the script's traps stop every replica and HAProxy it started.
/// </summary>
public sealed class ReplicaSet : IDisposable
{
    private readonly ChildProcess _script;

    private ReplicaSet(ChildProcess script, Uri front, IReadOnlyList<Replica> replicas)
    {
        _script = script;
        Front = front;
        Replicas = replicas;
    }

    public Uri Front { get; }

    public IReadOnlyList<Replica> Replicas { get; }

    public sealed record Replica(string Name, int Pid, int HttpPort, int MetricsPort)
    {
        public Uri Metrics => new(string.Create(CultureInfo.InvariantCulture, $"http://127.0.0.1:{MetricsPort}/metrics"));
    }

    public static ReplicaSet Start(ScaleOutSettings s, string policy, string runDir)
    {
        Directory.CreateDirectory(runDir);
        var inv = CultureInfo.InvariantCulture;
        var script = ChildProcess.Start("bash", [s.ReplicasScript, "--replicas", s.Replicas.ToString(inv), "--policy", policy,
            "--port", s.FrontPort.ToString(inv), "--base-port", s.BasePort.ToString(inv), "--run-dir", runDir, "--",
            "--model", s.ModelDir, "--adapters", s.AdapterRoot, "--target-rank", s.TargetRank.ToString(inv), "--slots", s.Slots.ToString(inv),
            "--max-batch", s.MaxBatch.ToString(inv), "--host-cache", s.HostCache, "--queue", "256"], logPath: Path.Combine(runDir, "replicas.log"));
        try
        {
            string ready = script.WaitForLine(l => l.StartsWith("ready:", StringComparison.Ordinal) || l.StartsWith("error:", StringComparison.Ordinal),
                TimeSpan.FromMinutes(10));
            if (!ready.StartsWith("ready:", StringComparison.Ordinal)) throw new InvalidOperationException($"replicas.sh: {ready}");
            using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "replicas.json")));
            var replicas = doc.RootElement.GetProperty("replicas").EnumerateArray().Select(r => new Replica(r.GetProperty("name").GetString()!,
                r.GetProperty("pid").GetInt32(), r.GetProperty("http").GetInt32(), r.GetProperty("metrics").GetInt32())).ToList();
            return new ReplicaSet(script, new Uri(doc.RootElement.GetProperty("front").GetString()!), replicas);
        }
        catch
        {
            script.Terminate(TimeSpan.FromSeconds(20));
            script.Dispose();
            throw;
        }
    }

    /// <summary>Every replica's counters; a dead replica's are null.</summary>
    public async Task<ServerCounters?[]> ScrapeAsync(HttpClient http, CancellationToken ct)
    {
        var result = new ServerCounters?[Replicas.Count];
        for (int i = 0; i < Replicas.Count; i++)
        {
            try
            {
                result[i] = await ServerCounters.ScrapeAsync(http, Replicas[i].Metrics, ct);
            }
            catch (HttpRequestException)
            {
                result[i] = null;
            }
        }
        return result;
    }

    /// <summary>kill -9 of one replica's server (its launcher's exec'd dotnet process): no goodbye, as a crashed node.</summary>
    public void Kill(int index) =>
        ChildProcess.Run("kill", ["-KILL", Replicas[index].Pid.ToString(CultureInfo.InvariantCulture)], TimeSpan.FromSeconds(10));

    public void Dispose()
    {
        _script.Terminate(TimeSpan.FromSeconds(30));
        _script.Dispose();
    }
}
