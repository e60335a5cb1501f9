using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoraSqueeze.Model.Config;

/// <summary>
/// The fields of a Hugging Face <c>config.json</c> that a Llama-family decoder needs (llama, mistral, qwen2).
/// Field names follow transformers' <c>LlamaConfig</c> / <c>Qwen2Config</c>. <see cref="Load"/> deserializes and
/// <see cref="Validate"/> refuses anything this runtime would silently get wrong, naming the field.
/// </summary>
public sealed record ModelConfig
{
    /// <summary>Model types this runtime implements (they share modeling_llama's maths).</summary>
    public static readonly IReadOnlyList<string> SupportedModelTypes = ["llama", "mistral", "qwen2"];

    [JsonPropertyName("model_type")] public string? ModelType { get; init; }
    [JsonPropertyName("architectures")] public IReadOnlyList<string>? Architectures { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; }
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }
    /// <summary>Key/value heads for grouped-query attention; absent means equal to the attention heads.</summary>
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }
    /// <summary>Per-head size when given explicitly (e.g. some Mistral/Qwen configs); default hidden/heads.</summary>
    [JsonPropertyName("head_dim")] public int? HeadDimOverride { get; init; }
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 2048;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }
    [JsonPropertyName("tie_word_embeddings")] public bool? TieWordEmbeddingsRaw { get; init; }
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("attention_bias")] public bool? AttentionBiasRaw { get; init; }
    [JsonPropertyName("mlp_bias")] public bool MlpBias { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; init; }
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    /// <summary>An int or a list of ints in config.json (Llama 3 lists several).</summary>
    [JsonPropertyName("eos_token_id")] public JsonElement? EosTokenIdRaw { get; init; }
    [JsonPropertyName("sliding_window")] public int? SlidingWindow { get; init; }
    [JsonPropertyName("use_sliding_window")] public bool? UseSlidingWindow { get; init; }

    /// <summary>Key/value heads (GQA); equals <see cref="NumAttentionHeads"/> for plain multi-head attention.</summary>
    [JsonIgnore] public int NumKvHeads => NumKeyValueHeads ?? NumAttentionHeads;

    /// <summary>Per-head dimension.</summary>
    /// <summary>LoRA parameters per unit of rank: Σ over the seven projections of every layer of (in + out).</summary>
    [JsonIgnore] public long LoraParametersPerRank
    {
        get
        {
            long h = HiddenSize, q = (long)NumAttentionHeads * HeadDim, kv = (long)NumKvHeads * HeadDim, i = IntermediateSize;
            long perLayer = (h + q) + 2 * (h + kv) + (q + h) + 2 * (h + i) + (i + h);
            return perLayer * NumHiddenLayers;
        }
    }

    [JsonIgnore] public int HeadDim => HeadDimOverride ?? (NumAttentionHeads == 0 ? 0 : HiddenSize / NumAttentionHeads);

    /// <summary>Whether lm_head shares the embedding matrix. transformers' default is false for llama/mistral and
    /// true for qwen2 (Qwen2Config's default).</summary>
    [JsonIgnore] public bool TieWordEmbeddings => TieWordEmbeddingsRaw ?? ModelType == "qwen2";

    /// <summary>Bias on q/k/v (qwen2 always; llama/mistral when <c>attention_bias</c> is true).</summary>
    [JsonIgnore] public bool QkvBias => ModelType == "qwen2" || AttentionBiasRaw == true;

    /// <summary>Bias on o_proj (llama with <c>attention_bias</c>; never for qwen2, see modeling_qwen2.py).</summary>
    [JsonIgnore] public bool OBias => ModelType != "qwen2" && AttentionBiasRaw == true;

    /// <summary>End-of-sequence token ids (empty when the config names none).</summary>
    [JsonIgnore]
    public IReadOnlyList<int> EosTokenIds => EosTokenIdRaw switch
    {
        { ValueKind: JsonValueKind.Number } e => [e.GetInt32()],
        { ValueKind: JsonValueKind.Array } a => a.EnumerateArray().Select(x => x.GetInt32()).ToList(),
        _ => [],
    };

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        NumberHandling = JsonNumberHandling.AllowReadingFromString,
        ReadCommentHandling = JsonCommentHandling.Skip,
        AllowTrailingCommas = true,
    };

    /// <summary>Reads <c>config.json</c> from a model folder (or the file itself) and validates it.</summary>
    public static ModelConfig Load(string modelDirOrFile)
    {
        var path = Directory.Exists(modelDirOrFile) ? Path.Combine(modelDirOrFile, "config.json") : modelDirOrFile;
        if (!File.Exists(path)) throw new FileNotFoundException($"model config not found: {path}", path);
        return Parse(File.ReadAllText(path));
    }

    /// <summary>Deserializes and validates config JSON text.</summary>
    public static ModelConfig Parse(string json)
    {
        ModelConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<ModelConfig>(json, JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new ModelConfigException(ex.Path ?? "?", "cannot be read: " + ex.Message);
        }
        if (config is null) throw new ModelConfigException("(root)", "config.json is empty");
        config.Validate();
        return config;
    }

    /// <summary>Serializes back to HF-style JSON (what <see cref="Fixtures.TinyModelFactory"/> writes).</summary>
    public string ToJson() => JsonSerializer.Serialize(this, WriteOptions);

    private static readonly JsonSerializerOptions WriteOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Throws <see cref="ModelConfigException"/> naming the first unsupported or inconsistent field.</summary>
    public void Validate()
    {
        if (ModelType is null) throw new ModelConfigException("model_type", "missing");
        if (!SupportedModelTypes.Contains(ModelType))
            throw new ModelConfigException("model_type", $"'{ModelType}' is not supported (supported: {string.Join(", ", SupportedModelTypes)})");
        if (Architectures is { Count: > 0 } archs)
        {
            string[] known = ["LlamaForCausalLM", "MistralForCausalLM", "Qwen2ForCausalLM"];
            var bad = archs.FirstOrDefault(a => !known.Contains(a));
            if (bad is not null) throw new ModelConfigException("architectures", $"'{bad}' is not supported (supported: {string.Join(", ", known)})");
        }
        Positive("vocab_size", VocabSize);
        Positive("hidden_size", HiddenSize);
        Positive("intermediate_size", IntermediateSize);
        Positive("num_hidden_layers", NumHiddenLayers);
        Positive("num_attention_heads", NumAttentionHeads);
        Positive("num_key_value_heads", NumKvHeads);
        Positive("max_position_embeddings", MaxPositionEmbeddings);
        if (NumAttentionHeads % NumKvHeads != 0)
            throw new ModelConfigException("num_key_value_heads", $"{NumKvHeads} does not divide num_attention_heads {NumAttentionHeads}");
        if (HeadDimOverride is null && HiddenSize % NumAttentionHeads != 0)
            throw new ModelConfigException("num_attention_heads", $"{NumAttentionHeads} does not divide hidden_size {HiddenSize} and no head_dim is given");
        if (HeadDim <= 0 || HeadDim % 2 != 0)
            throw new ModelConfigException("head_dim", $"{HeadDim} must be a positive even number (RoPE rotates pairs)");
        if (HiddenAct != "silu")
            throw new ModelConfigException("hidden_act", $"'{HiddenAct}' is not supported (only silu)");
        if (MlpBias) throw new ModelConfigException("mlp_bias", "true is not supported");
        if (!(RmsNormEps > 0)) throw new ModelConfigException("rms_norm_eps", "must be positive");
        if (!(RopeTheta > 0)) throw new ModelConfigException("rope_theta", "must be positive");
        if (TorchDtype is not null && TorchDtype is not ("float32" or "float16" or "bfloat16"))
            throw new ModelConfigException("torch_dtype", $"'{TorchDtype}' is not supported (float32, float16, bfloat16)");
        if (RopeScaling is { } rs)
        {
            switch (rs.Kind)
            {
                case "default":
                    break;
                case "llama3":
                    if (!(rs.Factor >= 1)) throw new ModelConfigException("rope_scaling.factor", "must be >= 1");
                    if (!(rs.LowFreqFactor > 0) || !(rs.HighFreqFactor > rs.LowFreqFactor))
                        throw new ModelConfigException("rope_scaling.high_freq_factor", "must exceed low_freq_factor > 0");
                    if (rs.OriginalMaxPositionEmbeddings <= 0)
                        throw new ModelConfigException("rope_scaling.original_max_position_embeddings", "must be positive");
                    break;
                default:
                    throw new ModelConfigException("rope_scaling.rope_type", $"'{rs.Kind}' is not supported (default, llama3)");
            }
        }
    }

    private static void Positive(string field, int value)
    {
        if (value <= 0) throw new ModelConfigException(field, value == 0 ? "missing or zero" : $"{value} must be positive");
    }
}
