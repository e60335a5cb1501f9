using System.Text.Json.Nodes;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Testing;
using TorchSharp;
using static LoraSqueeze.Testing.AdapterFixture;

namespace LoraSqueeze.Core.Tests.Squeeze;

/// <summary>The exact factored path against the dense truncated SVD (Eckart–Young) and exact reconstruction.</summary>
public sealed class ExactSqueezeTests : IDisposable
{
    private readonly AdapterFixture _fx = new();

    [Theory]
    [InlineData(48, 48, 12, 5)]
    [InlineData(40, 70, 10, 4)]
    [InlineData(90, 30, 16, 7)]
    public void ExactPathEqualsTruncatedSvdOfDenseDelta(int outF, int inF, int r, int target)
    {
        using var scope = torch.NewDisposeScope();
        var a = _fx.Randn(r, inF);
        var b = _fx.Randn(outF, r);
        var dir = _fx.WriteAdapter("a", new JsonObject { ["peft_type"] = "LORA", ["r"] = r, ["lora_alpha"] = 2 * r, ["target_modules"] = new JsonArray("q_proj") },
            [Key(Peft("m.q_proj", "lora_A.weight"), a), Key(Peft("m.q_proj", "lora_B.weight"), b)]);

        var (weights, report) = AdapterSqueezer.LoadAndSqueeze(dir, target);
        using var w = weights;
        var dense = b.to_type(torch.ScalarType.Float64).matmul(a.to_type(torch.ScalarType.Float64)).mul(2.0); // s = α/r = 2
        var (u, s, vh) = torch.linalg.svd(dense, fullMatrices: false);
        var optimum = u.narrow(1, 0, target).mul(s.narrow(0, 0, target)).matmul(vh.narrow(0, 0, target));
        var m = Assert.Single(w.Modules);
        Assert.Equal(target, m.Rank);
        Assert.Equal(new long[] { target, inF }, m.A.shape);
        Assert.Equal(new long[] { outF, target }, m.B.shape);
        Assert.True(RelErr(AdapterSqueezer.Dense(m), optimum) < 1e-5, "squeezed ΔW is not the truncated SVD");

        var sv = s.data<double>().ToArray();
        double total = sv.Sum(x => x * x), kept = sv.Take(target).Sum(x => x * x);
        var mr = Assert.Single(report.Modules);
        Assert.Equal(kept / total, mr.RetainedEnergy, 9);
        Assert.Equal(Math.Sqrt(1 - kept / total), mr.RelativeError, 6);
        Assert.Equal(RelErr(optimum, dense), mr.RelativeError, 6);
        Assert.Equal(sv[0], mr.LeadingSingularValues[0], 6);
        Assert.Equal("exact", mr.Method);
        Assert.Equal(AdapterKind.Lora, mr.SourceKind);
        Assert.Equal(r, mr.SourceRank);
    }

    [Fact]
    public void RankAtOrAboveTrueRankReproducesDeltaWithZeroPadding()
    {
        using var scope = torch.NewDisposeScope();
        var a = _fx.Randn(4, 32);
        var b = _fx.Randn(24, 4);
        var dir = _fx.WriteAdapter("pad", new JsonObject { ["peft_type"] = "LORA", ["r"] = 4, ["lora_alpha"] = 8, ["use_rslora"] = true },
            [Key(Peft("m.v_proj", "lora_A.weight"), a), Key(Peft("m.v_proj", "lora_B.weight"), b)]);
        foreach (int target in new[] { 4, 10 })
        {
            var (weights, report) = AdapterSqueezer.LoadAndSqueeze(dir, target);
            using var w = weights;
            var dense = b.matmul(a).mul(8 / Math.Sqrt(4)); // rsLoRA: α/√r
            var m = Assert.Single(w.Modules);
            Assert.Equal(target, m.Rank);
            Assert.True(RelErr(AdapterSqueezer.Dense(m), dense) < 1e-5);
            Assert.True(report.Modules[0].RelativeError < 1e-6);
            if (target > 4) Assert.Equal(0.0, m.A.narrow(0, 4, target - 4).abs().sum().item<float>());
        }
    }

    [Fact]
    public void BalancedSplitGivesFactorsOfEqualSingularValues()
    {
        using var scope = torch.NewDisposeScope();
        using var delta = DeltaFactory.Lora("m", AdapterKind.Lora, _fx.Randn(6, 20), _fx.Randn(30, 6), 1.0);
        using var svd = ExactFactoredSvd.Compute(delta.P, delta.Q);
        var m = BalancedSplit.ToModule("m", svd, 3, 30, 20);
        // Columns of B' and rows of A' both have norm √σ.
        var bn = torch.linalg.vector_norm(m.B, dims: [0]);
        var an = torch.linalg.vector_norm(m.A, dims: [1]);
        Assert.True(torch.allclose(bn, an, rtol: 1e-4, atol: 1e-5));
        Assert.True(torch.allclose(bn.square().to_type(torch.ScalarType.Float64), svd.S.narrow(0, 0, 3), rtol: 1e-4));
    }

    public void Dispose() => _fx.Dispose();
}
