namespace LoraSqueeze.Model.Kernels;

/// <summary>How attention reads the KV cache.</summary>
public enum AttentionKernel
{
    /// <summary>
    /// The default: a decode step (one token per sequence) on the CPU in float32 goes through
    /// <see cref="CpuDecodeAttention"/>, reading K/V in place in the cache; prefill and other devices use <see cref="Sdpa"/>.
    /// </summary>
    InPlace,

    /// <summary>
    /// libtorch's scaled_dot_product_attention over each sequence's cache rows gathered ([S, H, Kmax, d], GQA heads
    /// expanded) with a position mask: the reference path.
    /// </summary>
    Sdpa,
}
