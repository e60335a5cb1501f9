using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Modules;

namespace LoraSqueeze.Model.Tests;

public class ConfigTests
{
    // A Llama-3.1-style config (values from meta-llama/Llama-3.1-8B's config.json, shrunk where irrelevant).
    private const string Llama31 = """
    {
      "architectures": ["LlamaForCausalLM"], "attention_bias": false, "bos_token_id": 128000,
      "eos_token_id": [128001, 128008, 128009], "hidden_act": "silu", "hidden_size": 4096, "head_dim": 128,
      "intermediate_size": 14336, "max_position_embeddings": 131072, "model_type": "llama",
      "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "rms_norm_eps": 1e-05,
      "rope_scaling": {"factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                       "original_max_position_embeddings": 8192, "rope_type": "llama3"},
      "rope_theta": 500000.0, "tie_word_embeddings": false, "torch_dtype": "bfloat16", "vocab_size": 128256
    }
    """;

    [Fact]
    public void EveryFieldTheRuntimeReliesOnDeserializes()
    {
        var c = ModelConfig.Parse(Llama31);
        Assert.Equal("llama", c.ModelType);
        Assert.Equal(4096, c.HiddenSize);
        Assert.Equal(14336, c.IntermediateSize);
        Assert.Equal(32, c.NumHiddenLayers);
        Assert.Equal(32, c.NumAttentionHeads);
        Assert.Equal(8, c.NumKvHeads);
        Assert.Equal(128, c.HeadDim);
        Assert.Equal(128256, c.VocabSize);
        Assert.Equal(131072, c.MaxPositionEmbeddings);
        Assert.Equal(1e-5, c.RmsNormEps);
        Assert.Equal(500000.0, c.RopeTheta);
        Assert.False(c.TieWordEmbeddings);
        Assert.Equal("bfloat16", c.TorchDtype);
        Assert.Equal(128000, c.BosTokenId);
        Assert.Equal(new[] { 128001, 128008, 128009 }, c.EosTokenIds);
        Assert.NotNull(c.RopeScaling);
        Assert.Equal("llama3", c.RopeScaling!.Kind);
        Assert.Equal(8.0, c.RopeScaling.Factor);
        Assert.Equal(1.0, c.RopeScaling.LowFreqFactor);
        Assert.Equal(4.0, c.RopeScaling.HighFreqFactor);
        Assert.Equal(8192, c.RopeScaling.OriginalMaxPositionEmbeddings);
        Assert.False(c.QkvBias);
    }

    [Fact]
    public void Qwen2HasQkvBiasTiedDefaultAndNoOBias()
    {
        var c = ModelConfig.Parse("""{"model_type":"qwen2","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"num_key_value_heads":2,"vocab_size":100,"eos_token_id":7}""");
        Assert.True(c.QkvBias);
        Assert.False(c.OBias);
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal(new[] { 7 }, c.EosTokenIds);
        Assert.Equal(16, c.HeadDim);
        var mistral = ModelConfig.Parse("""{"model_type":"mistral","hidden_size":64,"intermediate_size":128,"num_hidden_layers":2,"num_attention_heads":4,"vocab_size":100,"sliding_window":4096}""");
        Assert.Equal(4, mistral.NumKvHeads);
        Assert.False(mistral.TieWordEmbeddings);
        Assert.Equal(4096, mistral.SlidingWindow);
    }

    [Theory]
    [InlineData("\"model_type\":\"gpt2\"", "model_type")]
    [InlineData("\"hidden_act\":\"gelu\"", "hidden_act")]
    [InlineData("\"rope_scaling\":{\"rope_type\":\"yarn\",\"factor\":4}", "rope_scaling.rope_type")]
    [InlineData("\"rope_scaling\":{\"type\":\"linear\",\"factor\":2}", "rope_scaling.rope_type")]
    [InlineData("\"num_key_value_heads\":3", "num_key_value_heads")]
    [InlineData("\"torch_dtype\":\"float8_e4m3fn\"", "torch_dtype")]
    [InlineData("\"architectures\":[\"GPT2LMHeadModel\"]", "architectures")]
    [InlineData("\"mlp_bias\":true", "mlp_bias")]
    [InlineData("\"hidden_size\":0", "hidden_size")]
    public void UnsupportedValuesAreRefusedNamingTheField(string field, string name)
    {
        var json = "{\"model_type\":\"llama\",\"hidden_size\":64,\"intermediate_size\":128,\"num_hidden_layers\":2,\"num_attention_heads\":4,\"vocab_size\":100," + field + "}";
        // Later duplicate keys win in System.Text.Json, so the override applies.
        var ex = Assert.Throws<ModelConfigException>(() => ModelConfig.Parse(json));
        Assert.Equal(name, ex.Field);
        Assert.Contains(name, ex.Message);
    }

    [Fact]
    public void Llama3RopeScalingMatchesTransformersFormula()
    {
        var c = ModelConfig.Parse(Llama31);
        var scaled = RotaryEmbedding.InverseFrequencies(c);
        var plain = RotaryEmbedding.InverseFrequencies(c with { RopeScaling = null });
        Assert.Equal(64, scaled.Length);
        // High frequency (short wavelength < 8192/4 = 2048): unchanged.
        Assert.Equal(plain[0], scaled[0], 12);
        Assert.Equal(1.0, scaled[0]);
        // Low frequency (wavelength > 8192): divided by the factor 8.
        Assert.True(2 * Math.PI / plain[63] > 8192);
        Assert.Equal(plain[63] / 8, scaled[63], 15);
        // A medium one: smooth interpolation between the two, as in _compute_llama3_parameters.
        int mid = Enumerable.Range(0, 64).First(i => 2 * Math.PI / plain[i] is >= 2048 and <= 8192);
        double wavelen = 2 * Math.PI / plain[mid];
        double smooth = (8192 / wavelen - 1) / (4 - 1);
        Assert.Equal((1 - smooth) * plain[mid] / 8 + smooth * plain[mid], scaled[mid], 15);
        Assert.True(scaled[mid] < plain[mid] && scaled[mid] > plain[mid] / 8);
    }
}
