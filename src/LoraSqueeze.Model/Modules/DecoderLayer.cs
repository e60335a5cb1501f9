using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Lora;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Modules;

/// <summary>Pre-norm transformer block (HF <c>LlamaDecoderLayer</c>): x + attn(norm(x)), then h + mlp(norm(h)).</summary>
public sealed class DecoderLayer : IDisposable
{
    public DecoderLayer(int index, ModelConfig config, ModelLoadOptions options, ScalarType dtype, Device device)
    {
        Index = index;
        var prefix = $"model.layers.{index}";
        InputLayernorm = new RmsNorm($"{prefix}.input_layernorm", config.HiddenSize, config.RmsNormEps, dtype, device);
        SelfAttn = new Attention($"{prefix}.self_attn", config, options, dtype, device);
        PostAttentionLayernorm = new RmsNorm($"{prefix}.post_attention_layernorm", config.HiddenSize, config.RmsNormEps, dtype, device);
        Mlp = new Mlp($"{prefix}.mlp", config, options, dtype, device);
    }

    public int Index { get; }
    public RmsNorm InputLayernorm { get; }
    public Attention SelfAttn { get; }
    public RmsNorm PostAttentionLayernorm { get; }
    public Mlp Mlp { get; }

    /// <summary>x: [T, hidden] → [T, hidden].</summary>
    /// <remarks>The residual adds go in place into the sublayers' outputs, fresh tensors this layer owns (o_proj's and
    /// down_proj's results): two tensors fewer a layer than <c>x + attn</c>, and the same sums.</remarks>
    internal Tensor Forward(Tensor x, StepBatch batch, Tensor keys, Tensor values)
    {
        var h = SelfAttn.Forward(InputLayernorm.Forward(x), batch, keys, values).add_(x);
        return Mlp.Forward(PostAttentionLayernorm.Forward(h), batch.Lora).add_(h);
    }

    /// <summary>The training path: x [B, T, hidden] → [B, T, hidden], causal over each row, no cache.</summary>
    internal Tensor ForwardSequence(Tensor x, Tensor cos, Tensor sin, ProjectionHook? hook)
    {
        var h = x + SelfAttn.ForwardSequence(InputLayernorm.Forward(x), cos, sin, hook);
        return h + Mlp.ForwardSequence(PostAttentionLayernorm.Forward(h), hook);
    }

    public void Dispose()
    {
        InputLayernorm.Dispose();
        SelfAttn.Dispose();
        PostAttentionLayernorm.Dispose();
        Mlp.Dispose();
    }
}
