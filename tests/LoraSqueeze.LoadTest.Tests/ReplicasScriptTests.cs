using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using LoraSqueeze.Testing;

namespace LoraSqueeze.LoadTest.Tests;

/// <summary>
/// deploy/local/replicas.sh for real: two replicas of the generated demo behind HAProxy. With affinity every request
/// for an adapter lands on one replica (each adapter is loaded exactly once over the set), a dead replica's adapters
/// are served by the other, and SIGTERM stops every process the script started. Needs haproxy (.ci/run installs it).
/// </summary>
public sealed class ReplicasScriptTests
{
    [Fact]
    public async Task Affinity_routes_each_adapter_to_one_replica_survives_a_dead_one_and_stops_everything()
    {
        var demo = DemoFixture.Assets;
        string runDir = Directory.CreateTempSubdirectory("lsq-replicas-").FullName;
        int front = FreePort.Next(), basePort = 20000 + Random.Shared.Next(0, 20000);
        var inv = CultureInfo.InvariantCulture;
        using var script = ChildProcess.Start("bash", [Path.Combine(RepositoryFolder.Root, "deploy", "local", "replicas.sh"),
            "--replicas", "2", "--policy", "affinity", "--port", front.ToString(inv), "--base-port", basePort.ToString(inv), "--run-dir", runDir,
            "--", "--model", demo.ModelDir, "--adapters", demo.AdapterRoot, "--slots", "2"], logPath: Path.Combine(runDir, "script.log"));
        string ready = script.WaitForLine(l => l.StartsWith("ready:", StringComparison.Ordinal) || l.StartsWith("error:", StringComparison.Ordinal), TimeSpan.FromMinutes(8));
        Assert.StartsWith("ready:", ready, StringComparison.Ordinal);
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(runDir, "replicas.json")));
        var replicas = doc.RootElement.GetProperty("replicas").EnumerateArray()
            .Select(r => (Pid: r.GetProperty("pid").GetInt32(), Metrics: r.GetProperty("metrics").GetInt32())).ToList();
        int haproxy = doc.RootElement.GetProperty("haproxy_pid").GetInt32();
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };

        async Task<HttpStatusCode> Complete(string model)
        {
            var body = JsonSerializer.Serialize(new { model, prompt = "hello", max_tokens = 2, temperature = 0 });
            using var response = await http.PostAsync(new Uri($"http://127.0.0.1:{front}/v1/completions"), new StringContent(body, Encoding.UTF8, "application/json"));
            return response.StatusCode;
        }
        async Task<double[]> Loads() => await Task.WhenAll(replicas.Select(async r =>
            PrometheusText.Sum(PrometheusText.Parse(await http.GetStringAsync(new Uri($"http://127.0.0.1:{r.Metrics}/metrics"))),
                "lorasqueeze_adapter_loads_total", ("result", "ok"))));

        foreach (var round in Enumerable.Range(0, 3))
            foreach (var id in demo.AdapterIds) Assert.Equal(HttpStatusCode.OK, await Complete(id));
        var loads = await Loads();
        Assert.Equal(demo.AdapterIds.Count, loads.Sum());       // 3 rounds, yet each adapter read and squeezed once

        // A replica dies: its adapters are served by the other one (HAProxy re-dispatches refused connections at once).
        ChildProcess.Run("kill", ["-KILL", replicas[0].Pid.ToString(inv)], TimeSpan.FromSeconds(10));
        foreach (var id in demo.AdapterIds) Assert.Equal(HttpStatusCode.OK, await Complete(id));

        script.Terminate(TimeSpan.FromSeconds(30));
        Assert.True(script.HasExited);
        foreach (int pid in replicas.Select(r => r.Pid).Append(haproxy))
            Assert.False(Directory.Exists($"/proc/{pid}") && !File.ReadAllText($"/proc/{pid}/stat").Contains(") Z ", StringComparison.Ordinal),
                $"process {pid} is still running after SIGTERM");
        Directory.Delete(runDir, recursive: true);
    }
}
