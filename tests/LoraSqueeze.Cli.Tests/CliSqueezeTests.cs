using System.Text.Json;
using System.Text.Json.Nodes;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Testing;
using TorchSharp;
using static LoraSqueeze.Cli.Tests.CliVersionTests;
using static LoraSqueeze.Testing.AdapterFixture;

namespace LoraSqueeze.Cli.Tests;

/// <summary>
/// The squeeze, inspect and extract verbs run as the real <c>lorasqueeze</c> process (stdout and stderr redirected, as
/// in CI) on small adapters and checkpoints written by the project's own writers.
/// </summary>
public sealed class CliSqueezeTests : IDisposable
{
    private static readonly string[] Types = ["q_proj", "v_proj", "down_proj"];

    private readonly AdapterFixture _fx = new();

    /// <summary>A LoRA over 2 layers × q/v/down with rank <paramref name="r"/>; returns its folder and dense ΔW per module.</summary>
    private (string Dir, Dictionary<string, torch.Tensor> Delta) Lora(string name, int r, string? parent = null)
    {
        var tensors = new List<KeyValuePair<string, torch.Tensor>>();
        var delta = new Dictionary<string, torch.Tensor>();
        foreach (int layer in new[] { 0, 1 })
        {
            foreach (var t in Types)
            {
                var path = $"model.layers.{layer}.{(t == "down_proj" ? "mlp" : "self_attn")}.{t}";
                long o = t == "down_proj" ? 24 : 32, i = t == "down_proj" ? 40 : 32;
                // Decaying row scales give each module a spread spectrum, so the energy curves differ by type.
                var a = _fx.Randn(r, i).mul(torch.linspace(1, 0.05, r).pow(t == "q_proj" ? 1 : 3).unsqueeze(1)); // [r, in]
                var b = _fx.Randn(o, r);                                                                          // [out, r]
                tensors.Add(Key(Peft(path, "lora_A.weight"), a));
                tensors.Add(Key(Peft(path, "lora_B.weight"), b));
                delta[path] = b.matmul(a).mul(2.0); // α = 2r
            }
        }
        var cfg = new JsonObject { ["peft_type"] = "LORA", ["r"] = r, ["lora_alpha"] = 2 * r, ["target_modules"] = new JsonArray("q_proj", "v_proj", "down_proj") };
        var dir = _fx.WriteAdapter(parent is null ? name : Path.Combine(parent, name), cfg, tensors);
        return (dir, delta);
    }

    private static void AssertFailedCleanly(int code, string stderr, string outDir, params string[] named)
    {
        Assert.NotEqual(0, code);
        var line = Assert.Single(stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith("error: ", line);
        foreach (var n in named) Assert.Contains(n, line);
        Assert.DoesNotContain("   at ", stderr); // one line, no stack trace
        Assert.False(Directory.Exists(outDir), $"{outDir} was left behind");
        var parent = Path.GetDirectoryName(outDir)!;
        Assert.Empty(Directory.GetFileSystemEntries(parent, ".*tmp*"));
    }

    [Fact]
    public void InspectPlotWritesAPngAndJsonHoldsEnergyPerCandidateRank()
    {
        var (dir, delta) = Lora("insp", 12);
        var png = Path.Combine(Environment.GetEnvironmentVariable("LSQ_KEEP_PLOT") ?? _fx.Root, "energy.png");
        var (code, stdout, stderr) = RunCli("inspect", "--adapter", dir, "--json", "--plot", png);
        Assert.True(code == 0, stderr);

        var bytes = File.ReadAllBytes(png);
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, bytes[..8]); // PNG signature
        Assert.Equal("IHDR", System.Text.Encoding.ASCII.GetString(bytes, 12, 4));
        Assert.True(bytes.Length > 10_000, $"PNG of {bytes.Length} bytes is too small to hold a plot");

        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        Assert.Equal("Lora", root.GetProperty("kind").GetString());
        Assert.Equal(6, root.GetProperty("moduleCount").GetInt32());
        foreach (var m in root.GetProperty("modules").EnumerateArray())
        {
            var path = m.GetProperty("module").GetString()!;
            var energy = m.GetProperty("retainedEnergy");
            var sv = torch.linalg.svdvals(delta[path].to_type(torch.ScalarType.Float64)).data<double>().ToArray();
            double total = sv.Sum(x => x * x);
            double previous = 0;
            foreach (int r in new[] { 1, 2, 4, 8, 16, 32, 64, 128 })
            {
                double e = energy.GetProperty(r.ToString()).GetDouble();
                Assert.Equal(sv.Take(r).Sum(x => x * x) / total, e, 6);
                Assert.True(e >= previous - 1e-12);
                previous = e;
            }
            Assert.Equal(1.0, energy.GetProperty("16").GetDouble(), 9); // source rank 12 ≤ 16
        }
    }

    [Fact]
    public void SqueezingAFolderWritesEveryAdapterAtUniformRankWithRedirectedOutput()
    {
        var folder = Path.Combine(_fx.Root, "many");
        var deltas = new Dictionary<string, Dictionary<string, torch.Tensor>>();
        foreach (var (name, r) in new[] { ("a", 4), ("b", 8), ("c", 16) })
            deltas[name] = Lora(name, r, "many").Delta;
        var outDir = Path.Combine(_fx.Root, "squeezed");
        var report = Path.Combine(_fx.Root, "report.json");
        var (code, stdout, stderr) = RunCli("squeeze", "--adapter", folder, "--rank", "6", "--out", outDir, "--report", report);
        Assert.True(code == 0, stderr);
        foreach (var name in deltas.Keys) Assert.Contains($"{name}: Lora, 6 modules → rank 6", stdout);

        Assert.Equal(["a", "b", "c"], Directory.GetFileSystemEntries(outDir).Select(Path.GetFileName).Order());
        foreach (var (name, delta) in deltas)
        {
            using var w = PeftLoraReader.Read(Path.Combine(outDir, name));
            Assert.True(w.IsUniform);
            Assert.Equal(6, w.Rank);
            var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(outDir, name, "adapter_config.json")))!;
            Assert.Equal(6, cfg["r"]!.GetValue<int>());
            Assert.Equal(6, cfg["lora_alpha"]!.GetValue<int>());
            foreach (var m in w.Modules)
            {
                using var scope = torch.NewDisposeScope();
                var d = delta[m.ModulePath].to_type(torch.ScalarType.Float64);
                var (u, s, vh) = torch.linalg.svd(d, fullMatrices: false);
                var optimum = u.narrow(1, 0, 6).mul(s.narrow(0, 0, 6)).matmul(vh.narrow(0, 0, 6)); // Eckart–Young
                Assert.True(RelErr(AdapterSqueezer.Dense(m), optimum) < 1e-5, $"{name}/{m.ModulePath}");
            }
        }
        using var json = JsonDocument.Parse(File.ReadAllText(report));
        Assert.Equal(3, json.RootElement.GetArrayLength());
    }

    [Fact]
    public void SqueezeJsonPrintsTheReportOnStdout()
    {
        var (dir, _) = Lora("single", 4);
        var outDir = Path.Combine(_fx.Root, "single-out");
        var (code, stdout, stderr) = RunCli("squeeze", "--adapter", dir, "--rank", "2", "--out", outDir, "--json");
        Assert.True(code == 0, stderr);
        using var json = JsonDocument.Parse(stdout);
        Assert.Equal("Lora", json.RootElement.GetProperty("sourceKind").GetString());
        Assert.Equal(2, json.RootElement.GetProperty("targetRank").GetInt32());
        Assert.Equal(6, json.RootElement.GetProperty("modules").GetArrayLength());
        var energy = json.RootElement.GetProperty("meanRetainedEnergy").GetDouble();
        Assert.InRange(energy, 0.0, 1.0);
        Assert.True(energy < 1.0, "rank 4 → 2 must drop some energy");
    }

    [Fact]
    public void ExtractRecoversTheDifferenceOfTwoCheckpoints()
    {
        using var scope = torch.NewDisposeScope();
        var weights = new Dictionary<string, torch.Tensor>
        {
            ["model.embed_tokens"] = _fx.Randn(50, 16),
            ["model.layers.0.self_attn.q_proj"] = _fx.Randn(16, 16),
            ["model.layers.0.mlp.up_proj"] = _fx.Randn(40, 16),
        };
        // q_proj changes by a rank-3 update (extract at rank 3 is exact); up_proj by a full-rank one with a decaying spectrum.
        var lowRank = _fx.Randn(16, 3).matmul(_fx.Randn(3, 16)).mul(0.1);
        var (qu, _, qv) = torch.linalg.svd(_fx.Randn(40, 16), fullMatrices: false);
        var fullRank = qu.mul(torch.pow(0.6, torch.arange(16, dtype: torch.ScalarType.Float32))).matmul(qv);
        var tuned = new Dictionary<string, torch.Tensor>(weights)
        {
            ["model.embed_tokens"] = weights["model.embed_tokens"].add(1.0),
            ["model.layers.0.self_attn.q_proj"] = weights["model.layers.0.self_attn.q_proj"].add(lowRank),
            ["model.layers.0.mlp.up_proj"] = weights["model.layers.0.mlp.up_proj"].add(fullRank),
        };
        var baseDir = _fx.WriteModel("base", weights);
        var tunedDir = _fx.WriteModel("tuned", tuned);
        var outDir = Path.Combine(_fx.Root, "extracted");
        var (code, stdout, stderr) = RunCli("extract", "--base", baseDir, "--tuned", tunedDir, "--rank", "3", "--out", outDir, "--json");
        Assert.True(code == 0, stderr);
        using (var report = JsonDocument.Parse(stdout))
        {
            Assert.Equal(3, report.RootElement.GetProperty("targetRank").GetInt32());
            Assert.Equal(2, report.RootElement.GetProperty("moduleCount").GetInt32());
        }

        using var w = PeftLoraReader.Read(outDir);
        Assert.Equal(["model.layers.0.mlp.up_proj", "model.layers.0.self_attn.q_proj"], w.Modules.Select(m => m.ModulePath));
        Assert.True(w.IsUniform);
        Assert.Equal(3, w.Rank);
        var q = w.Find("model.layers.0.self_attn.q_proj")!;
        var expectedQ = tuned["model.layers.0.self_attn.q_proj"].sub(weights["model.layers.0.self_attn.q_proj"]);
        Assert.True(RelErr(AdapterSqueezer.Dense(q), expectedQ) < 1e-4, "rank-3 difference not reproduced");

        var up = w.Find("model.layers.0.mlp.up_proj")!;
        var expectedUp = tuned["model.layers.0.mlp.up_proj"].sub(weights["model.layers.0.mlp.up_proj"]).to_type(torch.ScalarType.Float64);
        var sv = torch.linalg.svdvals(expectedUp).data<double>().ToArray();
        double optimal = Math.Sqrt(sv.Skip(3).Sum(x => x * x) / sv.Sum(x => x * x)); // Eckart–Young truncation error
        double err = RelErr(AdapterSqueezer.Dense(up), expectedUp);
        Assert.True(err <= 1.05 * optimal, $"error {err} vs optimum {optimal}");
    }

    [Fact]
    public void NanInATensorFailsNamingItAndWritesNothing()
    {
        var a = _fx.Randn(2, 8);
        a[1, 2] = torch.tensor(float.NaN);
        var dir = _fx.WriteAdapter("nan", new JsonObject { ["peft_type"] = "LORA", ["r"] = 2, ["lora_alpha"] = 2, ["target_modules"] = new JsonArray("q_proj") },
            [Key(Peft("m.q_proj", "lora_A.weight"), a), Key(Peft("m.q_proj", "lora_B.weight"), _fx.Randn(6, 2))]);
        var outDir = Path.Combine(_fx.Root, "out-nan");
        var (code, _, stderr) = RunCli("squeeze", "--adapter", dir, "--rank", "2", "--out", outDir);
        AssertFailedCleanly(code, stderr, outDir, "m.q_proj.lora_A.weight", "1 NaN");
    }

    [Fact]
    public void RankAboveAModulesDimensionsFailsNamingItAndWritesNothing()
    {
        var (dir, _) = Lora("big", 4);
        var outDir = Path.Combine(_fx.Root, "out-big");
        var (code, _, stderr) = RunCli("squeeze", "--adapter", dir, "--rank", "33", "--out", outDir);
        AssertFailedCleanly(code, stderr, outDir, "model.layers.0.mlp.down_proj", "exceeds");
    }

    [Fact]
    public void ConfigDisagreeingWithTensorsFailsNamingTheModuleAndWritesNothing()
    {
        var (dir, _) = Lora("cfg", 4);
        var cfg = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "adapter_config.json")))!;
        cfg["rank_pattern"] = new JsonObject { ["model.layers.1.self_attn.v_proj"] = 8 };
        File.WriteAllText(Path.Combine(dir, "adapter_config.json"), cfg.ToJsonString());
        var outDir = Path.Combine(_fx.Root, "out-cfg");
        var (code, _, stderr) = RunCli("squeeze", "--adapter", dir, "--rank", "2", "--out", outDir);
        AssertFailedCleanly(code, stderr, outDir, "model.layers.1.self_attn.v_proj", "rank 8");
    }

    [Fact]
    public void OneBadAdapterInAFolderLeavesNothingInOut()
    {
        var folder = Path.Combine(_fx.Root, "mixed");
        Lora("a-good", 4, "mixed");
        var bad = Lora("b-bad", 4, "mixed").Dir;
        File.WriteAllText(Path.Combine(bad, "adapter_config.json"), "{ not json");
        var outDir = Path.Combine(_fx.Root, "out-mixed");
        var (code, _, stderr) = RunCli("squeeze", "--adapter", folder, "--rank", "2", "--out", outDir);
        AssertFailedCleanly(code, stderr, outDir, "b-bad", "adapter_config.json");
    }

    public void Dispose() => _fx.Dispose();
}
