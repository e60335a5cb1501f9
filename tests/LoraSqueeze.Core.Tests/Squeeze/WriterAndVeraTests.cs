using System.Text.Json.Nodes;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Safetensors;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Testing;
using TorchSharp;
using static LoraSqueeze.Testing.AdapterFixture;

namespace LoraSqueeze.Core.Tests.Squeeze;

/// <summary>Written adapters follow PEFT's names and shapes and read back; VeRA projections regenerate exactly.</summary>
public sealed class WriterAndVeraTests : IDisposable
{
    private static readonly double[] TorchRandSeed0 = [0.4963, 0.7682, 0.0885, 0.1320, 0.3074];
    private readonly AdapterFixture _fx = new();

    [Fact]
    public void SqueezedAdapterIsWrittenAsPeftLoraAndReadsBack()
    {
        using var scope = torch.NewDisposeScope();
        var dir = _fx.WriteAdapter("src", new JsonObject { ["peft_type"] = "LORA", ["r"] = 6, ["lora_alpha"] = 12, ["base_model_name_or_path"] = "tiny" },
        [
            Key(Peft("model.layers.0.self_attn.q_proj", "lora_A.weight"), _fx.Randn(6, 16)), Key(Peft("model.layers.0.self_attn.q_proj", "lora_B.weight"), _fx.Randn(16, 6)),
            Key(Peft("model.layers.0.mlp.down_proj", "lora_A.weight"), _fx.Randn(6, 24)), Key(Peft("model.layers.0.mlp.down_proj", "lora_B.weight"), _fx.Randn(16, 6)),
        ]);
        var (weights, _) = AdapterSqueezer.LoadAndSqueeze(dir, 4);
        using var w = weights;
        var outDir = Path.Combine(_fx.Root, "out");
        PeftLoraWriter.Write(w, outDir, "tiny");

        using (var file = SafetensorsFile.Open(Path.Combine(outDir, "adapter_model.safetensors")))
        {
            Assert.Equal("pt", file.Metadata["format"]);
            Assert.Equal(new long[] { 4, 16 }, file.Get("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight").Shape);
            Assert.Equal(new long[] { 16, 4 }, file.Get("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight").Shape);
            Assert.Equal(new long[] { 4, 24 }, file.Get("base_model.model.model.layers.0.mlp.down_proj.lora_A.weight").Shape);
            Assert.Equal(4, file.Names.Count);
        }
        var cfg = AdapterConfig.Load(Path.Combine(outDir, "adapter_config.json"));
        Assert.Equal(("LORA", 4, 4.0, false), (cfg.PeftType, cfg.R, cfg.Alpha, cfg.UseRslora));
        Assert.Equal(["down_proj", "q_proj"], cfg.TargetModules!);
        Assert.Equal("tiny", cfg.BaseModelNameOrPath);

        using var back = PeftLoraReader.Read(outDir);
        Assert.True(back.IsUniform);
        foreach (var m in w.Modules)
        {
            var b = back.Find(m.ModulePath)!;
            Assert.True(Same(b.A, m.A) && Same(b.B, m.B), m.ModulePath);
        }
        Assert.Empty(Directory.GetDirectories(_fx.Root, ".out.tmp-*"));
    }

    [Fact]
    public void NonUniformExportWritesRankAndAlphaPatternsThatReadBackWithScaleOne()
    {
        using var scope = torch.NewDisposeScope();
        var s = torch.tensor(new float[] { 10, 1, 0.1f, 0.01f });
        var a1 = torch.linalg.qr(_fx.Randn(20, 4)).Q.T.contiguous();                           // [4, 20] orthonormal rows
        var b1 = torch.linalg.qr(_fx.Randn(20, 4)).Q.mul(s.unsqueeze(0)).contiguous();         // [20, 4]
        var dir = _fx.WriteAdapter("nu", new JsonObject { ["peft_type"] = "LORA", ["r"] = 4, ["lora_alpha"] = 4 },
            [Key(Peft("a.q_proj", "lora_A.weight"), a1), Key(Peft("a.q_proj", "lora_B.weight"), b1),
             Key(Peft("a.v_proj", "lora_A.weight"), _fx.Randn(4, 20)), Key(Peft("a.v_proj", "lora_B.weight"), _fx.Randn(20, 4))]);
        var (weights, report) = AdapterSqueezer.LoadAndSqueeze(dir, 4, new SqueezeOptions { Energy = 0.99 });
        using var w = weights;
        Assert.Equal(1, w.Find("a.q_proj")!.Rank); // 100 / 101.0101 ≥ 0.99
        Assert.False(report.Uniform);
        var outDir = Path.Combine(_fx.Root, "nu-out");
        PeftLoraWriter.Write(w, outDir);
        var cfg = AdapterConfig.Load(Path.Combine(outDir, "adapter_config.json"));
        Assert.Equal(1, cfg.RankFor("a.q_proj"));
        Assert.Equal(1.0, cfg.AlphaFor("a.q_proj"));
        using var back = PeftLoraReader.Read(outDir);
        Assert.True(Same(back.Find("a.q_proj")!.B, w.Find("a.q_proj")!.B));
    }

    [Fact]
    public void ParamBudgetSpendsOnLargestEnergyPerParameter()
    {
        var ranks = RankSelection.ByParamBudget([([5.0, 1.0], 10, 10), ([3.0, 2.9], 10, 10)], budget: 60, maxRank: 2);
        Assert.Equal([1, 2], ranks); // 25, 9, 8.41 per 20 params; 1 does not fit
        Assert.Equal(2, RankSelection.ByEnergy([3, 2, 1], 14, 0.9, 3)); // 13/14 ≥ 0.9
    }

    [Fact]
    public void VeraGeneratorMatchesTorchReferenceAndRepeats()
    {
        using var scope = torch.NewDisposeScope();
        // torch.manual_seed(0); torch.rand(5) == [0.4963, 0.7682, 0.0885, 0.1320, 0.3074] (PyTorch docs/tests).
        using var g = new torch.Generator(0);
        var u = torch.empty(5).uniform_(0, 1, g).data<float>().ToArray();
        Assert.Equal([0.4963f, 0.7682f, 0.0885f, 0.1320f, 0.3074f], u.Select(x => MathF.Round(x, 4)).ToArray());

        var (a, b) = VeraProjections.Generate(0, 4, 16, 12);
        double bound = Math.Sqrt(3.0) * Math.Sqrt(2) / Math.Sqrt(16);
        var first = a.reshape(-1).narrow(0, 0, 5).data<float>().ToArray();
        var expected = TorchRandSeed0.Select(x => -bound + 2 * bound * x).ToArray();
        // The reference values carry 4 decimals, so allow half a unit of the 4th decimal, scaled by 2·bound.
        for (int i = 0; i < 5; i++) Assert.True(Math.Abs(expected[i] - first[i]) <= 2 * bound * 5.1e-5, $"vera_A[{i}] = {first[i]}, expected {expected[i]}");
        Assert.Equal(new long[] { 12, 4 }, b.shape);
        double boundB = Math.Sqrt(3.0) * Math.Sqrt(2) / Math.Sqrt(4);
        Assert.True(b.abs().max().item<float>() <= boundB);
        var (a2, b2) = VeraProjections.Generate(0, 4, 16, 12);
        Assert.True(Same(a, a2) && Same(b, b2));
        var (a3, _) = VeraProjections.Generate(1, 4, 16, 12);
        Assert.False(Same(a, a3));
    }

    [Fact]
    public void VeraWithoutSavedProjectionsRegeneratesFromPrngKey()
    {
        using var scope = torch.NewDisposeScope();
        var model = _fx.WriteModel("vb", [Key("l.q_proj", _fx.Randn(10, 14)), Key("l.v_proj", _fx.Randn(6, 14))]);
        var lambdas = new[] { _fx.Randn(10), _fx.Randn(3), _fx.Randn(6), _fx.Randn(3) };
        var (va, vb) = VeraProjections.Generate(1234, 3, 14, 10);
        var saved = _fx.WriteAdapter("vs", new JsonObject { ["peft_type"] = "VERA", ["r"] = 3 },
            [Key("base_model.vera_A", va), Key("base_model.vera_B", vb),
             Key(Peft("l.q_proj", "vera_lambda_b"), lambdas[0]), Key(Peft("l.q_proj", "vera_lambda_d"), lambdas[1]),
             Key(Peft("l.v_proj", "vera_lambda_b"), lambdas[2]), Key(Peft("l.v_proj", "vera_lambda_d"), lambdas[3])]);
        var regen = _fx.WriteAdapter("vr", new JsonObject { ["peft_type"] = "VERA", ["r"] = 3, ["save_projection"] = false, ["projection_prng_key"] = 1234 },
            [Key(Peft("l.q_proj", "vera_lambda_b"), lambdas[0]), Key(Peft("l.q_proj", "vera_lambda_d"), lambdas[1]),
             Key(Peft("l.v_proj", "vera_lambda_b"), lambdas[2]), Key(Peft("l.v_proj", "vera_lambda_d"), lambdas[3])]);
        using var x = AdapterReader.Read(saved, model);
        using var y = AdapterReader.Read(regen, model);
        for (int i = 0; i < 2; i++)
            Assert.True(Same(x.Modules[i].Rows(0, x.Modules[i].OutFeatures), y.Modules[i].Rows(0, y.Modules[i].OutFeatures)));
    }

    public void Dispose() => _fx.Dispose();
}
