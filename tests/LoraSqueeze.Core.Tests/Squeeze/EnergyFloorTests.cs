using System.Text.Json.Nodes;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Testing;
using TorchSharp;
using static LoraSqueeze.Testing.AdapterFixture;

namespace LoraSqueeze.Core.Tests.Squeeze;

/// <summary>
/// The serve-time energy floor (<see cref="SqueezeOptions.Floor"/>): the smallest multiple k of the slot rank that keeps
/// the floor in every module, one k for the whole adapter, the factors still the Eckart–Young truncation at k·r, the
/// cap respected, and the randomized (DoRA) path decomposed wide enough to choose k.
/// </summary>
public sealed class EnergyFloorTests : IDisposable
{
    private readonly AdapterFixture _fx = new();

    /// <summary>A rank-16 LoRA on two modules whose singular values are given: ΔW = U·diag(σ)·Vᵀ with random orthonormal U, V.</summary>
    private string SpectrumAdapter(string name, double[] q, double[] v)
    {
        var tensors = new List<KeyValuePair<string, torch.Tensor>>();
        foreach (var (module, sigma) in new[] { ("m.q_proj", q), ("m.v_proj", v) })
        {
            var (u, _) = torch.linalg.qr(_fx.Randn(40, sigma.Length));           // [40, 16] orthonormal columns
            var (w, _) = torch.linalg.qr(_fx.Randn(36, sigma.Length));           // [36, 16]
            var s = torch.tensor(sigma.Select(x => (float)x).ToArray());
            tensors.Add(Key(Peft(module, "lora_A.weight"), w.t().contiguous()));                 // A = Vᵀ [16, 36]
            tensors.Add(Key(Peft(module, "lora_B.weight"), u.mul(s.unsqueeze(0)).contiguous())); // B = U·diag(σ) [40, 16]
        }
        return _fx.WriteAdapter(name, new JsonObject
        {
            ["peft_type"] = "LORA", ["r"] = q.Length, ["lora_alpha"] = q.Length, ["target_modules"] = new JsonArray("q_proj", "v_proj"),
        }, tensors);
    }

    private static double Energy(double[] sigma, int r) => sigma.Take(r).Sum(x => x * x) / sigma.Sum(x => x * x);

    [Fact]
    public void TheSmallestMultipleMeetingTheFloorInEveryModuleIsChosen()
    {
        using var scope = torch.NewDisposeScope();
        // q: energy concentrated in 2 directions; v: flat over 16, so at rank 4 it keeps 25 %, at 12 it keeps 75 %.
        double[] q = [10, 8, .. Enumerable.Repeat(0.1, 14)];
        double[] v = [.. Enumerable.Repeat(1.0, 16)];
        var dir = SpectrumAdapter("flat", q, v);
        var floor = new EnergyFloor(0.7, MaxMultiple: 4);
        var (weights, report) = AdapterSqueezer.LoadAndSqueeze(dir, 4, new SqueezeOptions { Floor = floor });
        using var w = weights;
        // v needs 0.7·16 = 11.2 → 12 directions = 3 × 4; q meets 0.7 at k = 1, but the adapter takes one k for all.
        Assert.Equal(3, report.RankMultiple);
        Assert.Equal(12, report.TargetRank);
        Assert.All(w.Modules, m => Assert.Equal(12, m.Rank));
        Assert.Equal(Energy(v, 12), report.Modules.Single(m => m.ModulePath == "m.v_proj").RetainedEnergy, 6);
        Assert.True(report.MinRetainedEnergy >= 0.7);
        // A lower floor that every module meets at r: one slot, as without a floor.
        var (one, oneReport) = AdapterSqueezer.LoadAndSqueeze(dir, 4, new SqueezeOptions { Floor = new EnergyFloor(0.25, 4) });
        one.Dispose();
        Assert.Equal(1, oneReport.RankMultiple);
        Assert.Equal(4, oneReport.TargetRank);
    }

    [Fact]
    public void TheCapBoundsTheMultipleAndTheReportShowsWhatIsKept()
    {
        using var scope = torch.NewDisposeScope();
        double[] flat = [.. Enumerable.Repeat(1.0, 16)];
        var dir = SpectrumAdapter("capped", flat, flat);
        var (weights, report) = AdapterSqueezer.LoadAndSqueeze(dir, 4, new SqueezeOptions { Floor = new EnergyFloor(0.99, MaxMultiple: 2) });
        using var w = weights;
        Assert.Equal(2, report.RankMultiple);
        Assert.Equal(8, report.TargetRank);
        Assert.Equal(0.5, report.MinRetainedEnergy, 6);   // 8 of 16 equal directions: below the floor, which the caller decides about
    }

    [Fact]
    public void TheFactorsAtKTimesRAreTheTruncatedSvd()
    {
        using var scope = torch.NewDisposeScope();
        double[] q = [.. Enumerable.Range(0, 16).Select(i => Math.Pow(0.8, i))];
        double[] v = [.. Enumerable.Range(0, 16).Select(i => Math.Pow(0.9, i))];
        var dir = SpectrumAdapter("decay", q, v);
        using var adapter = AdapterReader.Read(dir);
        var (weights, report) = AdapterSqueezer.Squeeze(adapter, 2, new SqueezeOptions { Floor = new EnergyFloor(0.9, 8) });
        using var w = weights;
        int k = report.RankMultiple, rank = k * 2;
        // The expected k from the spectra directly: smallest k with energy(2k) ≥ 0.9 in both modules.
        int Needed(double[] s) => Enumerable.Range(1, 8).First(j => Energy(s, 2 * j) >= 0.9);
        Assert.Equal(Math.Max(Needed(q), Needed(v)), k);
        foreach (var m in w.Modules)
        {
            using var dense = DenseSvd.Compute(adapter.Modules.Single(d => d.ModulePath == m.ModulePath));
            var optimum = dense.U.narrow(1, 0, rank).mul(dense.S.narrow(0, 0, rank)).matmul(dense.Vh.narrow(0, 0, rank));
            Assert.True(RelErr(AdapterSqueezer.Dense(m), optimum) < 1e-5, m.ModulePath);
        }
    }

    [Fact]
    public void DoraIsDecomposedWideEnoughByTheRandomizedPath()
    {
        using var scope = torch.NewDisposeScope();
        // DoRA's ΔW = diag(d−1)·W0 + diag(d)·s·B·A is full rank: its spectrum comes from RSVD, which at rank r alone
        // would hold only r + oversample values.
        var (a, b, w0) = (_fx.Randn(8, 48), _fx.Randn(40, 8).mul(0.5), _fx.Randn(40, 48));
        var mag = _fx.Randn(40).abs().add(0.5);
        var model = _fx.WriteModel("dora-base", [Key("y.k_proj", w0)]);
        var dir = _fx.WriteAdapter("dora", new JsonObject { ["peft_type"] = "LORA", ["r"] = 8, ["lora_alpha"] = 8, ["use_dora"] = true },
            [Key(Peft("y.k_proj", "lora_A.weight"), a), Key(Peft("y.k_proj", "lora_B.weight"), b), Key(Peft("y.k_proj", "lora_magnitude_vector"), mag)]);
        using var adapter = AdapterReader.Read(dir, model);
        using var dense = DenseSvd.Compute(adapter.Modules.Single());
        var sigma = dense.S.data<double>().ToArray();
        var floor = new EnergyFloor(0.9, 8);
        var (weights, report) = AdapterSqueezer.Squeeze(adapter, 2, new SqueezeOptions { Floor = floor });
        using var w = weights;
        int expected = Enumerable.Range(1, 8).FirstOrDefault(j => Energy(sigma, 2 * j) >= 0.9 - 1e-3, 8);
        Assert.InRange(report.RankMultiple, expected, expected + 1);   // RSVD's estimate may round one step up, never below
        Assert.True(report.RankMultiple > 1, "a full-rank DoRA update should need more than one rank-2 slot at a 90 % floor");
        Assert.Equal("rsvd", report.Modules.Single().Method);
        Assert.True(report.MinRetainedEnergy >= 0.9 || report.RankMultiple == 8);
    }

    [Fact]
    public void BadFloorsAreRefusedNamingTheValue()
    {
        var dir = SpectrumAdapter("bad", [.. Enumerable.Repeat(1.0, 16)], [.. Enumerable.Repeat(1.0, 16)]);
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => AdapterSqueezer.LoadAndSqueeze(dir, 4, new SqueezeOptions { Floor = new EnergyFloor(1.5, 2) }));
        Assert.Contains("(0, 1]", ex.Message);
        ex = Assert.Throws<ArgumentOutOfRangeException>(() => AdapterSqueezer.LoadAndSqueeze(dir, 4, new SqueezeOptions { Floor = new EnergyFloor(0.9, 0) }));
        Assert.Contains("at least 1", ex.Message);
        Assert.Throws<ArgumentException>(() => AdapterSqueezer.LoadAndSqueeze(dir, 4, new SqueezeOptions { Floor = new EnergyFloor(0.9, 2), Energy = 0.9 }));
    }

    public void Dispose() => _fx.Dispose();
}
