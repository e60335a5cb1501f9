using LoraSqueeze.Core.Adapters;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Lora;

/// <summary>
/// A base linear layer (y = x·Wᵀ + b) plus stacked adapter slots, after vLLM's <c>lora/layers</c> LoraLinear:
/// A stacked as [slots, rank, in], B as [slots, out, rank], allocated once and written in place by
/// <see cref="SetSlot"/>/<see cref="ResetSlot"/>. The LoRA term is y += (x·Aₛᵀ)·Bₛᵀ for the slot s of each row; the
/// adapter's scaling is already folded into its factors (<see cref="LoraModule"/>).
/// </summary>
public sealed class LoraLinear : IDisposable
{

    /// <summary>Allocates uninitialised base weights (the loader fills them) and zeroed slots.</summary>
    public LoraLinear(string path, long inFeatures, long outFeatures, bool bias, int slots, int slotRank,
        LoraKernel kernel, ScalarType dtype, Device device)
    {
        Path = path;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Kernel = kernel;
        Weight = empty([outFeatures, inFeatures], dtype: dtype, device: device); // [out, in], HF layout
        Bias = bias ? empty([outFeatures], dtype: dtype, device: device) : null;
        SlotRank = slotRank;
        if (slots > 0 && slotRank > 0)
        {
            A = zeros([slots, slotRank, inFeatures], dtype: dtype, device: device); // [slots, r, in]
            B = zeros([slots, outFeatures, slotRank], dtype: dtype, device: device); // [slots, out, r]
        }
    }

    /// <summary>HF module path, e.g. <c>model.layers.0.self_attn.q_proj</c>.</summary>
    public string Path { get; }
    public long InFeatures { get; }
    public long OutFeatures { get; }
    public int SlotRank { get; }

    /// <summary>How the LoRA term is computed; switchable between steps (benchmarks compare both).</summary>
    public LoraKernel Kernel { get; set; }
    public Tensor Weight { get; }
    public Tensor? Bias { get; }

    /// <summary>Stacked A factors [slots, r, in], or null without adapter slots.</summary>
    public Tensor? A { get; }

    /// <summary>Stacked B factors [slots, out, r], or null without adapter slots.</summary>
    public Tensor? B { get; }

    /// <summary>Base projection plus the batched LoRA term. x: [T, in] → [T, out].</summary>
    public Tensor Forward(Tensor x, LoraMapping? mapping)
    {
        var y = nn.functional.linear(x, Weight, Bias); // [T, out]
        if (mapping is null || mapping.IsEmpty || A is null || B is null) return y;
        if (Kernel == LoraKernel.Gathered) AddGathered(x, y, mapping);
        else AddSegmented(x, y, mapping);
        return y;
    }

    /// <summary>
    /// The training path: the base projection, then <paramref name="hook"/> (a trainable adapter) given this layer, its
    /// input and the base output. x: [.., in] → [.., out]. Slots are not used.
    /// </summary>
    public Tensor ForwardTraining(Tensor x, ProjectionHook? hook)
    {
        var y = nn.functional.linear(x, Weight, Bias); // [.., out]
        return hook is null ? y : hook(this, x, y);
    }

    /// <summary>Per distinct adapter: y[seg] += (x[seg]·Aₛᵀ)·Bₛᵀ. Reads each adapter's factors once per step.</summary>
    private void AddSegmented(Tensor x, Tensor y, LoraMapping mapping)
    {
        foreach (var (slot, start, count) in mapping.Segments)
        {
            var xs = x.narrow(0, start, count);             // [n, in]
            var h = xs.matmul(A![slot].t());                // [n, in]·[in, r] → [n, r]
            y.narrow(0, start, count).addmm_(h, B![slot].t()); // [n, r]·[r, out] added in place into y[seg]
        }
    }

    /// <summary>Gather per row then bmm (BGMV-style); copies T·r·(in+out) weights per step.</summary>
    private void AddGathered(Tensor x, Tensor y, LoraMapping mapping)
    {
        int first = mapping.FirstLoraRow, n = mapping.Rows - first;
        var xs = x.narrow(0, first, n).unsqueeze(1);             // [n, 1, in]
        var a = A!.index_select(0, mapping.RowSlots!);           // [n, r, in]
        var h = bmm(xs, a.transpose(1, 2));                      // [n, 1, in]·[n, in, r] → [n, 1, r]
        var b = B!.index_select(0, mapping.RowSlots!);           // [n, out, r]
        var d = bmm(h, b.transpose(1, 2)).squeeze(1);            // [n, 1, r]·[n, r, out] → [n, out]
        y.narrow(0, first, n).add_(d);
    }

    /// <summary>Writes one adapter module into a slot (rank ≤ slot rank; padded rows/columns zeroed).</summary>
    public void SetSlot(int slot, Tensor a, Tensor b)
    {
        int r = (int)a.shape[0];
        var aSlot = A![slot];                  // [R, in]
        var bSlot = B![slot];                  // [out, R]
        if (r < SlotRank)
        {
            aSlot.zero_();
            bSlot.zero_();
        }
        aSlot.narrow(0, 0, r).copy_(a);        // leading r rows of A
        bSlot.narrow(1, 0, r).copy_(b);        // leading r columns of B
    }

    /// <summary>Zeroes one slot (an adapter that does not target this module, or an evicted one).</summary>
    public void ResetSlot(int slot)
    {
        A![slot].zero_();
        B![slot].zero_();
    }

    /// <summary>Weight merged with one slot's adapter, W + Bₛ·Aₛ (the reference path).</summary>
    public Tensor MergedWeight(int slot) =>
        slot < 0 || A is null ? Weight.alias() : Weight + B![slot].matmul(A[slot]); // [out, r]·[r, in] → [out, in]

    public void Dispose()
    {
        Weight.Dispose();
        Bias?.Dispose();
        A?.Dispose();
        B?.Dispose();
    }
}
