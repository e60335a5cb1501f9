using System.Text.Json.Nodes;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Testing;
using TorchSharp;
using static LoraSqueeze.Testing.AdapterFixture;

namespace LoraSqueeze.Core.Tests.Squeeze;

/// <summary>Each input kind's ΔW, read from a real file, against a direct computation from its own definition.</summary>
public sealed class KindDefinitionTests : IDisposable
{
    private readonly AdapterFixture _fx = new();

    private static torch.Tensor DeltaOf(LoadedAdapter ad, string module)
    {
        var m = ad.Modules.Single(x => x.ModulePath == module);
        return m.Rows(0, m.OutFeatures);
    }

    [Fact]
    public void LoraWithPatternsUsesPerModuleRankAndAlpha()
    {
        using var scope = torch.NewDisposeScope();
        var (a1, b1, a2, b2) = (_fx.Randn(8, 16), _fx.Randn(12, 8), _fx.Randn(4, 16), _fx.Randn(20, 4));
        var cfg = new JsonObject
        {
            ["peft_type"] = "LORA", ["r"] = 8, ["lora_alpha"] = 16,
            ["rank_pattern"] = new JsonObject { ["^model.layers.1.mlp.up_proj"] = 4 },
            ["alpha_pattern"] = new JsonObject { ["up_proj"] = 3.5 },
            ["target_modules"] = new JsonArray("q_proj", "up_proj"),
        };
        var dir = _fx.WriteAdapter("pat", cfg, [
            Key(Peft("model.layers.1.self_attn.q_proj", "lora_A.weight"), a1), Key(Peft("model.layers.1.self_attn.q_proj", "lora_B.weight"), b1),
            // A stray ".default" segment, as left by saving model.state_dict() directly.
            Key(Peft("model.layers.1.mlp.up_proj", "lora_A.default.weight"), a2), Key(Peft("model.layers.1.mlp.up_proj", "lora_B.default.weight"), b2)]);
        using var ad = AdapterReader.Read(dir);
        Assert.Equal(AdapterKind.Lora, ad.Kind);
        Assert.True(RelErr(DeltaOf(ad, "model.layers.1.self_attn.q_proj"), b1.matmul(a1).mul(16.0 / 8)) < 1e-6);
        Assert.True(RelErr(DeltaOf(ad, "model.layers.1.mlp.up_proj"), b2.matmul(a2).mul(3.5 / 4)) < 1e-6);
    }

    [Fact]
    public void AdaLoraFollowsSvdLinearDefinition()
    {
        using var scope = torch.NewDisposeScope();
        var (a, b, e) = (_fx.Randn(3, 10), _fx.Randn(14, 3), _fx.Randn(3, 1));
        var cfg = new JsonObject
        {
            ["peft_type"] = "ADALORA", ["init_r"] = 6, ["lora_alpha"] = 32,
            ["rank_pattern"] = new JsonObject { ["x.q_proj.lora_E"] = new JsonArray(true, false, true, false, true, false) },
        };
        var dir = _fx.WriteAdapter("ada", cfg, [Key(Peft("x.q_proj", "lora_A"), a), Key(Peft("x.q_proj", "lora_B"), b), Key(Peft("x.q_proj", "lora_E"), e)]);
        using var ad = AdapterReader.Read(dir);
        var expected = b.matmul(a.mul(e)).mul(32 / (6 + 1e-5)); // transpose(B @ (A*E)) * scaling / (ranknum + 1e-5)
        Assert.True(RelErr(DeltaOf(ad, "x.q_proj"), expected) < 1e-6);
        Assert.Equal(AdapterKind.AdaLora, ad.Kind);
    }

    [Fact]
    public void VeraUsesSlicedSharedProjectionsAndLambdas()
    {
        using var scope = torch.NewDisposeScope();
        int r = 5;
        var (va, vb) = (_fx.Randn(r, 20), _fx.Randn(18, r));
        var (lb1, ld1, lb2, ld2) = (_fx.Randn(18), _fx.Randn(r), _fx.Randn(12), _fx.Randn(r));
        var model = _fx.WriteModel("vera-base", [Key("l.q_proj", _fx.Randn(18, 20)), Key("l.v_proj", _fx.Randn(12, 16))]);
        var dir = _fx.WriteAdapter("vera", new JsonObject { ["peft_type"] = "VERA", ["r"] = r },
        [
            Key("base_model.vera_A", va), Key("base_model.vera_B", vb),
            Key(Peft("l.q_proj", "vera_lambda_b"), lb1), Key(Peft("l.q_proj", "vera_lambda_d"), ld1),
            Key(Peft("l.v_proj", "vera_lambda_b"), lb2), Key(Peft("l.v_proj", "vera_lambda_d"), ld2),
        ]);
        using var ad = AdapterReader.Read(dir, model);
        // (λ_b ⊙ B[:out]) @ (λ_d ⊙ A[:, :in]), PEFT vera/layer.py get_delta_weight.
        var e1 = lb1.unsqueeze(1).mul(vb).matmul(ld1.unsqueeze(1).mul(va));
        var e2 = lb2.unsqueeze(1).mul(vb.narrow(0, 0, 12)).matmul(ld2.unsqueeze(1).mul(va.narrow(1, 0, 16)));
        Assert.True(RelErr(DeltaOf(ad, "l.q_proj"), e1) < 1e-6);
        Assert.True(RelErr(DeltaOf(ad, "l.v_proj"), e2) < 1e-6);
    }

    [Fact]
    public void LoHaIsScaledHadamardProductOfTwoLowRankProducts()
    {
        using var scope = torch.NewDisposeScope();
        var (w1a, w1b, w2a, w2b) = (_fx.Randn(15, 3), _fx.Randn(3, 11), _fx.Randn(15, 3), _fx.Randn(3, 11));
        var dir = _fx.WriteAdapter("loha", new JsonObject { ["peft_type"] = "LOHA", ["r"] = 3, ["alpha"] = 6 },
            [Key(Peft("x.o_proj", "hada_w1_a"), w1a), Key(Peft("x.o_proj", "hada_w1_b"), w1b), Key(Peft("x.o_proj", "hada_w2_a"), w2a), Key(Peft("x.o_proj", "hada_w2_b"), w2b)]);
        using var ad = AdapterReader.Read(dir);
        var expected = w1a.matmul(w1b).mul(w2a.matmul(w2b)).mul(2.0);
        var m = ad.Modules.Single();
        Assert.Equal(9, m.SourceRank); // r1·r2
        Assert.True(RelErr(DeltaOf(ad, "x.o_proj"), expected) < 1e-5);
    }

    [Fact]
    public void LoKrIsScaledKroneckerProduct()
    {
        using var scope = torch.NewDisposeScope();
        var w1 = _fx.Randn(4, 3);
        var (w2a, w2b) = (_fx.Randn(5, 2), _fx.Randn(2, 6));
        var dir = _fx.WriteAdapter("lokr", new JsonObject { ["peft_type"] = "LOKR", ["r"] = 2, ["alpha"] = 1 },
            [Key(Peft("x.down_proj", "lokr_w1"), w1), Key(Peft("x.down_proj", "lokr_w2_a"), w2a), Key(Peft("x.down_proj", "lokr_w2_b"), w2b)]);
        using var ad = AdapterReader.Read(dir);
        var expected = torch.kron(w1, w2a.matmul(w2b)).mul(0.5);
        var m = ad.Modules.Single();
        Assert.Equal(new long[] { 20, 18 }, new[] { m.OutFeatures, m.InFeatures });
        Assert.True(RelErr(DeltaOf(ad, "x.down_proj"), expected) < 1e-5);
    }

    [Fact]
    public void DoraIsRowRescaledMergedWeightMinusBase()
    {
        using var scope = torch.NewDisposeScope();
        var (a, b, w0) = (_fx.Randn(4, 12), _fx.Randn(10, 4).mul(0.1), _fx.Randn(10, 12));
        var mag = _fx.Randn(10).abs().add(0.5);
        var model = _fx.WriteModel("dora-base", [Key("y.k_proj", w0)]);
        var dir = _fx.WriteAdapter("dora", new JsonObject { ["peft_type"] = "LORA", ["r"] = 4, ["lora_alpha"] = 8, ["use_dora"] = true },
            [Key(Peft("y.k_proj", "lora_A.weight"), a), Key(Peft("y.k_proj", "lora_B.weight"), b), Key(Peft("y.k_proj", "lora_magnitude_vector"), mag)]);
        using var ad = AdapterReader.Read(dir, model);
        var merged = w0.add(b.matmul(a).mul(2.0));
        var d = mag.div(torch.linalg.vector_norm(merged, dims: [1])).unsqueeze(1);
        var expected = d.mul(merged).sub(w0);
        Assert.Equal(AdapterKind.Dora, ad.Kind);
        Assert.True(RelErr(DeltaOf(ad, "y.k_proj"), expected) < 1e-5);
        // The operator agrees with its own dense rows in both directions.
        var m = ad.Modules.Single();
        var x = _fx.Randn(12, 3);
        var y = _fx.Randn(10, 3);
        Assert.True(RelErr(m.Apply(x), expected.matmul(x)) < 1e-5);
        Assert.True(RelErr(m.ApplyTransposed(y), expected.T.matmul(y)) < 1e-5);
    }

    public void Dispose() => _fx.Dispose();
}
