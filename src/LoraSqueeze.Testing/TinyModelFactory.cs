using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Safetensors;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Config;
using static TorchSharp.torch;

namespace LoraSqueeze.Testing;

/// <summary>Shape and storage of a tiny random model written in Hugging Face layout.</summary>
public sealed record TinyModelSpec
{
    public string ModelType { get; init; } = "llama";
    public int VocabSize { get; init; } = 96;
    public int HiddenSize { get; init; } = 32;
    public int IntermediateSize { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public bool TieWordEmbeddings { get; init; }
    /// <summary>float32, float16 or bfloat16: the stored dtype and config torch_dtype.</summary>
    public string DType { get; init; } = "float32";
    /// <summary>Shard size in bytes; 0 writes a single model.safetensors.</summary>
    public long MaxShardBytes { get; init; }
    public RopeScaling? RopeScaling { get; init; }
    public double RopeTheta { get; init; } = 10000.0;
    public int MaxPositionEmbeddings { get; init; } = 512;
    public long Seed { get; init; } = 1;
    public int EosTokenId { get; init; } = 2;

    /// <summary>Llama shapes (GQA 4 query heads over 2 KV heads, untied).</summary>
    public static TinyModelSpec Llama => new();

    /// <summary>Qwen2 shapes: q/k/v bias, tied embeddings.</summary>
    public static TinyModelSpec Qwen2 => new() { ModelType = "qwen2", TieWordEmbeddings = true };

    public ModelConfig ToConfig() => new()
    {
        ModelType = ModelType,
        Architectures = [ModelType switch { "qwen2" => "Qwen2ForCausalLM", "mistral" => "MistralForCausalLM", _ => "LlamaForCausalLM" }],
        VocabSize = VocabSize,
        HiddenSize = HiddenSize,
        IntermediateSize = IntermediateSize,
        NumHiddenLayers = Layers,
        NumAttentionHeads = Heads,
        NumKeyValueHeads = KvHeads,
        MaxPositionEmbeddings = MaxPositionEmbeddings,
        RmsNormEps = 1e-5,
        RopeTheta = RopeTheta,
        RopeScaling = RopeScaling,
        TieWordEmbeddingsRaw = TieWordEmbeddings,
        TorchDtype = DType,
        BosTokenId = 1,
        EosTokenIdRaw = System.Text.Json.JsonSerializer.SerializeToElement(EosTokenId),
    };
}

/// <summary>
/// Writes tiny random models in Hugging Face layout (config.json + safetensors, single or sharded) with the project's
/// own writers, and makes random adapters that fit them. Weights are scaled like a trained model's (norm weights near 1,
/// projections ~ 1/√fan_in) so logits stay in a sensible range. Used by tests, the demo and the benchmark.
/// </summary>
public static class TinyModelFactory
{
    /// <summary>Writes the model into <paramref name="dir"/> and returns its config.</summary>
    public static ModelConfig Write(string dir, TinyModelSpec spec)
    {
        var config = spec.ToConfig();
        config.Validate();
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJson());
        using var scope = NewDisposeScope();
        var dtype = spec.DType switch { "float16" => ScalarType.Float16, "bfloat16" => ScalarType.BFloat16, _ => ScalarType.Float32 };
        var tensors = RandomWeights(config, spec.Seed).Select(kv => KeyValuePair.Create(kv.Key, kv.Value.to_type(dtype))).ToList();
        if (spec.MaxShardBytes > 0) ShardedSafetensorsWriter.Write(dir, tensors, spec.MaxShardBytes);
        else SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors);
        return config;
    }

    /// <summary>Random float32 weights under their HF names, in state-dict order.</summary>
    public static List<KeyValuePair<string, Tensor>> RandomWeights(ModelConfig config, long seed)
    {
        using var model = CausalLM.Create(config, CPU, new ModelLoadOptions { AdapterSlots = 0 });
        var gen = new Generator((ulong)seed);
        var list = new List<KeyValuePair<string, Tensor>>();
        foreach (var (name, t) in model.NamedParameters())
        {
            Tensor w = name.EndsWith("norm.weight", StringComparison.Ordinal)
                ? 1 + 0.1 * randn(t.shape, generator: gen)
                : name.EndsWith(".bias", StringComparison.Ordinal)
                    ? 0.1 * randn(t.shape, generator: gen)
                    : randn(t.shape, generator: gen) / Math.Sqrt(t.shape[^1]);
            list.Add(KeyValuePair.Create(name, w));
        }
        return list;
    }

    /// <summary>Fills an in-memory model with random weights (benchmarks: no file round trip).</summary>
    public static void Randomize(CausalLM model, long seed)
    {
        using var mode = inference_mode();
        var gen = new Generator((ulong)seed);
        foreach (var (name, t) in model.NamedParameters())
        {
            using var scope = NewDisposeScope();
            if (name.EndsWith("norm.weight", StringComparison.Ordinal)) t.fill_(1);
            else t.copy_(randn(t.shape, generator: gen) / Math.Sqrt(t.shape[^1]));
        }
    }

    /// <summary>A random adapter of rank <paramref name="rank"/> on every target projection of the model (or the
    /// given module suffixes), scaled so ΔW is a noticeable fraction of W.</summary>
    public static LoraWeights RandomAdapter(CausalLM model, string name, int rank, long seed, IReadOnlyList<string>? moduleSuffixes = null)
    {
        var gen = new Generator((ulong)seed);
        var modules = new List<LoraModule>();
        foreach (var p in model.Projections)
        {
            if (moduleSuffixes is not null && !moduleSuffixes.Any(s => p.Path.EndsWith(s, StringComparison.Ordinal))) continue;
            var a = (randn([rank, p.InFeatures], generator: gen) / Math.Sqrt(p.InFeatures)).DetachFromDisposeScope();
            var b = (0.5 * randn([p.OutFeatures, rank], generator: gen) / Math.Sqrt(rank)).DetachFromDisposeScope();
            modules.Add(new LoraModule(p.Path, a, b));
        }
        return new LoraWeights(name, modules);
    }
}
