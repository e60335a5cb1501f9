using System.Runtime.Intrinsics;

namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// Attention of a decode step on the CPU, float32, reading K and V in place in the KV cache: for every sequence (one
/// query token at position p) and every query head, softmax(q·Kᵀ/√d) over the row's cached positions 0..p, times V —
/// no gather of the sequence's cache rows, no GQA expansion of the KV heads into new tensors, no mask (the length is the
/// bound), nothing allocated but a score buffer the caller reuses. Written by hand (no library here attends over a
/// strided cache in place); the shape of llama.cpp's CPU <c>ggml_compute_forward_flash_attn_ext</c> one-query path,
/// without its online softmax: the scores of one head fit in L1 (p ≤ a few thousand floats). SDPA over the gathered
/// cache (<see cref="AttentionKernel.Sdpa"/>) is the reference.
/// </summary>
internal static unsafe class CpuDecodeAttention
{
    /// <summary>
    /// q: [S, H, d] (the step's queries, RoPE applied), keys/values: [rows, maxLen, KvH, d] (the layer's cache, this
    /// step's K/V already written), cacheRows[s] / lengths[s]: the cache row and key count (position + 1) of sequence s,
    /// o: [S, H, d] output, scores: threads × maxLen floats of scratch.
    /// </summary>
    public static void Apply(float* q, float* keys, float* values, int[] cacheRows, int[] lengths,
        float* o, int heads, int kvHeads, int headDim, int maxLen, float* scores, int threads)
    {
        // (sequence, head) pairs split across threads in interleaved order (sequences differ in length); each part
        // has its own maxLen floats of the score scratch.
        int items = cacheRows.Length * heads;
        int parts = KernelPool.Shared.Parts(threads, items);
        if (parts <= 1)
        {
            Range(q, keys, values, cacheRows, lengths, o, heads, kvHeads, headDim, maxLen, scores, 0, 1);
            return;
        }
        nint pq = (nint)q, pk = (nint)keys, pv = (nint)values, po = (nint)o, ps = (nint)scores;   // pointers cannot be captured
        KernelPool.Shared.For(parts, part => Range((float*)pq, (float*)pk, (float*)pv, cacheRows, lengths, (float*)po,
            heads, kvHeads, headDim, maxLen, (float*)ps + (long)part * maxLen, part, parts));
    }

    private static void Range(float* q, float* keys, float* values, int[] cacheRows, int[] lengths,
        float* o, int heads, int kvHeads, int headDim, int maxLen, float* scores, int first, int step)
    {
        int group = heads / kvHeads;
        long posStride = (long)kvHeads * headDim;          // floats between consecutive positions of one KV head
        float scale = 1f / MathF.Sqrt(headDim);
        for (int item = first; item < cacheRows.Length * heads; item += step)
        {
            int s = item / heads, h = item % heads;
            int len = lengths[s];
            long rowBase = (long)cacheRows[s] * maxLen * posStride;
            long head = rowBase + (long)(h / group) * headDim;
            float* qh = q + ((long)s * heads + h) * headDim;
            float* oh = o + ((long)s * heads + h) * headDim;
            float max = float.NegativeInfinity;
            for (int j = 0; j < len; j++)
            {
                float sc = Dot(qh, keys + head + j * posStride, headDim) * scale;
                scores[j] = sc;
                if (sc > max) max = sc;
            }
            float sum = 0;
            for (int j = 0; j < len; j++)
            {
                float e = MathF.Exp(scores[j] - max);
                scores[j] = e;
                sum += e;
            }
            float inv = 1f / sum;
            new Span<float>(oh, headDim).Clear();
            for (int j = 0; j < len; j++) Axpy(scores[j] * inv, values + head + j * posStride, oh, headDim);
        }
    }

    private static float Dot(float* a, float* b, int n)
    {
        var acc = Vector256<float>.Zero;
        int i = 0;
        for (; i <= n - 8; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc);
        float sum = Vector256.Sum(acc);
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>y += a·x over n floats.</summary>
    private static void Axpy(float a, float* x, float* y, int n)
    {
        var va = Vector256.Create(a);
        int i = 0;
        for (; i <= n - 8; i += 8) Vector256.FusedMultiplyAdd(va, Vector256.Load(x + i), Vector256.Load(y + i)).Store(y + i);
        for (; i < n; i++) y[i] += a * x[i];
    }
}
