using System.Text.Json;
using LoraSqueeze.Core.Safetensors;
using LoraSqueeze.Model.Config;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Gguf;

/// <summary>
/// Exports a Hugging Face Llama / Mistral / Qwen2 checkpoint folder as one llama.cpp GGUF file (f32, f16 or Q8_0
/// matrices; norms and biases stay f32, as llama.cpp's converter keeps them), with the hyperparameters, the byte-level
/// BPE tokenizer (tokens, types, merges, pre-tokenizer name, BOS/EOS) and the chat template, so llama.cpp and Ollama
/// load it as they load their own conversions. Follows convert_hf_to_gguf.py (<c>LlamaModel</c>, <c>Qwen2Model</c>).
/// </summary>
public static class GgufModelExporter
{
    /// <summary>Writes <paramref name="outPath"/>; <paramref name="progress"/> gets (tensors written, total).</summary>
    public static void Export(string modelDir, string outPath, GgufTensorType type, IProgress<(int Done, int Total)>? progress = null)
    {
        var config = ModelConfig.Load(modelDir);
        config.Validate();
        Refuse(config);
        string arch = GgufLlamaNames.Architecture(config);
        var w = new GgufWriter();
        AddHyperparameters(w, config, arch, Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(modelDir))));
        w.Add("general.file_type", GgufTensorTypes.FileType(type));
        GgufTokenizerMetadata.Add(w, modelDir, config);

        using var source = SafetensorsCheckpoint.Open(modelDir);
        void Matrix(string hf, string gguf, GgufTensorType t, int permuteHeads = 0) => AddTensor(w, source, hf, gguf, t, permuteHeads, vector: false);
        void Vector(string hf, string gguf, int permuteHeads = 0) => AddTensor(w, source, hf, gguf, GgufTensorType.F32, permuteHeads, vector: true);

        Matrix("model.embed_tokens.weight", "token_embd.weight", type);
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            string p = $"model.layers.{l}.";
            Vector(p + "input_layernorm.weight", $"blk.{l}.attn_norm.weight");
            foreach (var (hf, gguf) in GgufLlamaNames.Projections)
            {
                int heads = GgufLlamaNames.PermuteHeads(config, hf);
                Matrix(p + hf + ".weight", $"blk.{l}.{gguf}.weight", type, heads);
                if (source.Find(p + hf + ".bias") is not null) Vector(p + hf + ".bias", $"blk.{l}.{gguf}.bias", heads);
            }
            Vector(p + "post_attention_layernorm.weight", $"blk.{l}.ffn_norm.weight");
        }
        Vector("model.norm.weight", "output_norm.weight");
        if (!config.TieWordEmbeddings) Matrix("lm_head.weight", "output.weight", type);
        w.Write(outPath, progress);
    }

    /// <summary>The hyperparameter keys both the model and its adapters' files carry (llama.cpp's <c>LLM_KV_*</c>).</summary>
    internal static void AddHyperparameters(GgufWriter w, ModelConfig config, string arch, string name)
    {
        w.Add("general.architecture", arch);
        w.Add("general.name", name);
        w.Add($"{arch}.context_length", (uint)config.MaxPositionEmbeddings);
        w.Add($"{arch}.embedding_length", (uint)config.HiddenSize);
        w.Add($"{arch}.block_count", (uint)config.NumHiddenLayers);
        w.Add($"{arch}.feed_forward_length", (uint)config.IntermediateSize);
        w.Add($"{arch}.attention.head_count", (uint)config.NumAttentionHeads);
        w.Add($"{arch}.attention.head_count_kv", (uint)config.NumKvHeads);
        w.Add($"{arch}.attention.key_length", (uint)config.HeadDim);
        w.Add($"{arch}.attention.value_length", (uint)config.HeadDim);
        w.Add($"{arch}.rope.freq_base", (float)config.RopeTheta);
        w.Add($"{arch}.rope.dimension_count", (uint)config.HeadDim);
        w.Add($"{arch}.attention.layer_norm_rms_epsilon", (float)config.RmsNormEps);
        w.Add($"{arch}.vocab_size", (uint)config.VocabSize);
    }

    /// <summary>What the export cannot carry faithfully is refused by name rather than written wrong.</summary>
    internal static void Refuse(ModelConfig config)
    {
        if (config.RopeScaling is { } rs && rs.Kind != "default")
            throw new ModelConfigException($"rope_scaling '{rs.Kind}' is not exported to GGUF yet (llama.cpp needs its own rope_freqs/scaling keys for it); export a model without RoPE scaling");
        if (config.MlpBias)
            throw new ModelConfigException("mlp_bias = true has no tensor in llama.cpp's llama architecture; this checkpoint cannot be exported to GGUF");
        if (config.OBias && GgufLlamaNames.Architecture(config) == "qwen2")
            throw new ModelConfigException("an o_proj bias has no tensor in llama.cpp's qwen2 architecture; this checkpoint cannot be exported to GGUF");
    }

    private static void AddTensor(GgufWriter w, ITensorSource source, string hf, string gguf, GgufTensorType type, int permuteHeads, bool vector)
    {
        var info = source.Find(hf) ?? throw new InvalidDataException($"{source.Location}: tensor {hf} is missing (needed for {gguf})");
        if (info.Shape.Length != (vector ? 1 : 2))
            throw new InvalidDataException($"{source.Location}: tensor {hf} has shape {info.ShapeText}, expected {(vector ? "a vector" : "a matrix")}");
        long rows = vector ? 1 : info.Shape[0];
        long columns = vector ? info.Shape[0] : info.Shape[1];
        float[]? data = null;
        w.AddTensor(gguf, rows, columns, type, (r, row) =>
        {
            // Read (and permute) the whole tensor when its first row is asked for; one tensor is held at a time.
            if (r == 0 || data is null) data = Read(source, hf, permuteHeads);
            data.AsSpan((int)(r * columns), (int)columns).CopyTo(row);
            if (r == rows - 1) data = null;
        }, vector);
    }

    private static float[] Read(ITensorSource source, string name, int permuteHeads)
    {
        using var scope = NewDisposeScope();
        var t = source.ReadTensor(name, ScalarType.Float32);
        if (permuteHeads > 0) t = GgufLlamaNames.Permute(t, permuteHeads);
        return t.contiguous().data<float>().ToArray();
    }
}
