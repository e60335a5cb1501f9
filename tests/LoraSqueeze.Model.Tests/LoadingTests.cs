using LoraSqueeze.Core.Safetensors;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Testing;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Tests;

public class LoadingTests
{
    public static TheoryData<string, string, bool, long> Layouts => new()
    {
        { "llama", "float32", false, 0 },
        { "llama", "float32", true, 20_000 },     // sharded, tied
        { "qwen2", "float16", true, 0 },
        { "qwen2", "bfloat16", false, 20_000 },   // sharded, untied
        { "mistral", "bfloat16", false, 0 },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void LoadsWhatTheFactoryWroteInEveryLayout(string type, string dtype, bool tied, long shard)
    {
        var dir = TestModels.TempDir($"load-{type}-{dtype}");
        var spec = new TinyModelSpec { ModelType = type, DType = dtype, TieWordEmbeddings = tied, MaxShardBytes = shard };
        TinyModelFactory.Write(dir, spec);
        Assert.Equal(shard > 0, File.Exists(Path.Combine(dir, "model.safetensors.index.json")));
        using var model = CausalLM.Load(dir, CPU, new ModelLoadOptions { AdapterSlots = 0 });
        Assert.Equal(ScalarType.Float32, model.ComputeDType);     // CPU computes in float32 whatever is stored
        Assert.Equal(tied, ReferenceEquals(model.LmHead, model.EmbedTokens));
        Assert.Equal(type == "qwen2", model.Layers[0].SelfAttn.QProj.Bias is not null);
        Assert.Null(model.Layers[0].SelfAttn.OProj.Bias);
        using var source = SafetensorsCheckpoint.Open(dir);
        int checkedCount = 0;
        foreach (var (name, t) in model.NamedParameters())
        {
            using var stored = source.ReadTensor(name, ScalarType.Float32);
            Assert.True(stored.allclose(t, rtol: 0, atol: 0), $"{name} differs from the stored tensor");
            checkedCount++;
        }
        Assert.Equal(source.Names.Count, checkedCount);
    }

    [Fact]
    public void StrictLoadingListsMissingAndUnexpectedKeys()
    {
        var dir = TestModels.TempDir("strict");
        var config = TinyModelSpec.Llama.ToConfig();
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJson());
        var weights = TinyModelFactory.RandomWeights(config, 3)
            .Where(kv => kv.Key != "model.layers.1.mlp.up_proj.weight" && kv.Key != "model.norm.weight").ToList();
        weights.Add(KeyValuePair.Create("model.layers.0.self_attn.extra.weight", torch.zeros(2)));
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), weights);
        var ex = Assert.Throws<InvalidDataException>(() => CausalLM.Load(dir, CPU, new ModelLoadOptions()));
        Assert.Contains("missing keys (2): model.layers.1.mlp.up_proj.weight, model.norm.weight", ex.Message);
        Assert.Contains("unexpected keys (1): model.layers.0.self_attn.extra.weight", ex.Message);
    }

    [Fact]
    public void ShapeMismatchIsNamed()
    {
        var dir = TestModels.TempDir("shape");
        var config = TinyModelSpec.Llama.ToConfig();
        File.WriteAllText(Path.Combine(dir, "config.json"), (config with { IntermediateSize = 48 }).ToJson());
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), TinyModelFactory.RandomWeights(config, 3));
        var ex = Assert.Throws<InvalidDataException>(() => CausalLM.Load(dir, CPU, new ModelLoadOptions()));
        Assert.Contains("model.layers.0.mlp.gate_proj.weight: stored [64, 32], model expects [48, 32]", ex.Message);
    }

    [Fact]
    public void UnsupportedConfigIsRefusedOnLoad()
    {
        var dir = TestModels.TempDir("refuse");
        File.WriteAllText(Path.Combine(dir, "config.json"), """{"model_type":"gemma","hidden_size":8}""");
        var ex = Assert.Throws<ModelConfigException>(() => CausalLM.Load(dir, CPU, new ModelLoadOptions()));
        Assert.Equal("model_type", ex.Field);
    }
}
