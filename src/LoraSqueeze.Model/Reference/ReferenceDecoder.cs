using LoraSqueeze.Model.Modules;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Reference;

/// <summary>
/// The reference path: the same maths as HF <c>modeling_llama.py</c>, written plainly for one sequence at a time with
/// no KV cache, no packing and no batched LoRA. Each projection uses the merged weight W + B·A of the sequence's adapter
/// (what a single-adapter deployment would run). Attention is an explicit per-head loop with a causal mask and softmax,
/// RoPE angles are computed directly from the inverse frequencies. Slow on purpose; tests compare the fast path to it.
/// </summary>
public static class ReferenceDecoder
{
    /// <summary>Float32 logits [tokens, vocab] for every position of <paramref name="tokens"/> with the adapter whose
    /// (head) slot is <paramref name="slot"/> (−1 = base); a multi-slot adapter merges every slot of its group.</summary>
    public static Tensor Logits(CausalLM model, int[] tokens, int slot)
    {
        IReadOnlyList<int> slots = slot < 0 ? [] : model.Adapters.SlotsOf(slot);
        var c = model.Config;
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        int n = tokens.Length, heads = c.NumAttentionHeads, kvHeads = c.NumKvHeads, d = c.HeadDim;
        var ids = tensor(tokens.Select(t => (long)t).ToArray(), device: model.Device);
        var x = model.EmbedTokens.index_select(0, ids).to_type(ScalarType.Float64);           // [n, hidden]
        var (cos, sin) = Angles(model, n);                                                     // [n, d] each
        var causal = ones(n, n, dtype: ScalarType.Bool, device: model.Device).tril();          // [n, n] key ≤ query

        foreach (var layer in model.Layers)
        {
            var a = layer.SelfAttn;
            var h = Norm(x, layer.InputLayernorm, c.RmsNormEps);
            var q = Linear(h, a.QProj, slots).view(n, heads, d);                               // [n, H, d]
            var k = Linear(h, a.KProj, slots).view(n, kvHeads, d);                             // [n, KvH, d]
            var v = Linear(h, a.VProj, slots).view(n, kvHeads, d);                             // [n, KvH, d]
            q = Rope(q, cos, sin);
            k = Rope(k, cos, sin);
            var outs = new List<Tensor>();
            for (int head = 0; head < heads; head++)
            {
                int kvHead = head / (heads / kvHeads);                                         // GQA: query head → its KV head
                var qh = q.select(1, head);                                                    // [n, d]
                var kh = k.select(1, kvHead);                                                  // [n, d]
                var vh = v.select(1, kvHead);                                                  // [n, d]
                var scores = qh.matmul(kh.t()) / Math.Sqrt(d);                                 // [n, n]
                scores = scores.masked_fill(causal.logical_not(), double.NegativeInfinity);
                outs.Add(scores.softmax(-1).matmul(vh));                                       // [n, d]
            }
            var attn = stack(outs, 1).reshape(n, heads * d);                                   // [n, H, d] → [n, H·d]
            x = x + Linear(attn, a.OProj, slots);
            var m = layer.Mlp;
            var g = Norm(x, layer.PostAttentionLayernorm, c.RmsNormEps);
            var gate = Linear(g, m.GateProj, slots);
            x = x + Linear(gate * gate.sigmoid() * Linear(g, m.UpProj, slots), m.DownProj, slots);  // silu(z) = z·σ(z)
        }
        var final = Norm(x, model.Norm, c.RmsNormEps);
        var logits = final.matmul(model.DenseLmHead().to_type(ScalarType.Float64).t());               // [n, vocab]
        return logits.to_type(ScalarType.Float32).MoveToOuterDisposeScope();
    }

    private static Tensor Linear(Tensor x, Lora.LoraLinear p, IReadOnlyList<int> slots)
    {
        var w = p.MergedWeight(slots).to_type(ScalarType.Float64);                             // [out, in]
        var y = x.matmul(w.t());                                                               // [n, out]
        return p.Bias is null ? y : y + p.Bias.to_type(ScalarType.Float64);
    }

    private static Tensor Norm(Tensor x, RmsNorm norm, double eps) =>
        x / (x.pow(2).mean([-1L], keepdim: true) + eps).sqrt() * norm.Weight.to_type(ScalarType.Float64);

    private static (Tensor Cos, Tensor Sin) Angles(CausalLM model, int n)
    {
        var inv = RotaryEmbedding.InverseFrequencies(model.Config);
        var angles = new double[n * inv.Length];
        for (int p = 0; p < n; p++)
            for (int i = 0; i < inv.Length; i++) angles[p * inv.Length + i] = p * inv[i];
        var t = tensor(angles, [n, inv.Length], device: model.Device);                        // [n, d/2]
        return (t.cos(), t.sin());
    }

    /// <summary>Rotates pairs (i, i + d/2) by the position angle: HF's rotate_half convention.</summary>
    private static Tensor Rope(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);                                                        // [n, h, d/2]
        var x2 = x.narrow(-1, half, half);
        var c = cos.unsqueeze(1);                                                              // [n, 1, d/2]
        var s = sin.unsqueeze(1);
        return cat([x1 * c - x2 * s, x2 * c + x1 * s], -1);                                    // [n, h, d]
    }
}
