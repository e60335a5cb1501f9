using LoraSqueeze.Model.Config;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Gguf;

/// <summary>
/// Hugging Face Llama-family names and layouts → llama.cpp's, after llama.cpp's convert_hf_to_gguf.py
/// (<c>LlamaModel</c>, <c>Qwen2Model</c>) and gguf-py's tensor map: <c>model.layers.L.self_attn.q_proj</c> →
/// <c>blk.L.attn_q</c>, and for the <c>llama</c> architecture the q/k rows permuted from HF's rotate-half RoPE layout to
/// the interleaved pairs llama.cpp's LLAMA_ROPE_TYPE_NORM rotates (<c>LlamaModel.permute</c>). Qwen2 uses NEOX RoPE in
/// llama.cpp (the HF layout), so nothing is permuted there.
/// </summary>
public static class GgufLlamaNames
{
    /// <summary>HF projection (under <c>model.layers.L.</c>) → llama.cpp tensor stem (under <c>blk.L.</c>).</summary>
    public static readonly IReadOnlyList<(string Hf, string Gguf)> Projections =
    [
        ("self_attn.q_proj", "attn_q"), ("self_attn.k_proj", "attn_k"), ("self_attn.v_proj", "attn_v"),
        ("self_attn.o_proj", "attn_output"), ("mlp.gate_proj", "ffn_gate"), ("mlp.up_proj", "ffn_up"), ("mlp.down_proj", "ffn_down"),
    ];

    /// <summary>llama.cpp architecture name for a model type: llama and mistral → llama, qwen2 → qwen2.</summary>
    public static string Architecture(ModelConfig config) => config.ModelType switch
    {
        "llama" or "mistral" => "llama",
        "qwen2" => "qwen2",
        _ => throw new ModelConfigException($"model_type '{config.ModelType}' has no GGUF mapping (llama, mistral and qwen2 do)"),
    };

    /// <summary>
    /// The heads whose rows <see cref="Permute"/> regroups for an HF projection, or 0 when the rows stay as they are
    /// (not q/k, or an architecture with NEOX RoPE).
    /// </summary>
    public static int PermuteHeads(ModelConfig config, string hfProjection) =>
        Architecture(config) != "llama" ? 0
        : hfProjection == "self_attn.q_proj" ? config.NumAttentionHeads
        : hfProjection == "self_attn.k_proj" ? config.NumKvHeads
        : 0;

    /// <summary>
    /// LlamaModel.permute: per head, rows [first half | second half] (rotate-half) → interleaved pairs
    /// (row 2i = first-half i, row 2i+1 = second-half i). Works on weights [out, in], biases [out] and LoRA B [out, r].
    /// </summary>
    public static Tensor Permute(Tensor rows, int heads)
    {
        long outF = rows.shape[0];
        var rest = rows.shape.Skip(1).ToArray();
        // [out, ..] → [heads, 2, out/heads/2, ..] → swap the half and the index axes → [out, ..]
        var grouped = rows.reshape([heads, 2, outF / heads / 2, .. rest]);
        return grouped.transpose(1, 2).reshape(rows.shape).contiguous();
    }
}
