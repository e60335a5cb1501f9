using System.Runtime.CompilerServices;
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
    /// <summary>Floats of score scratch <see cref="Apply"/> needs: one row of <paramref name="maxLen"/> per query head of a GQA group, per thread.</summary>
    public static int ScratchFloats(int maxLen, int group, int threads) => maxLen * Math.Max(1, group) * Math.Max(1, threads);

    /// <summary>
    /// q: [S, H, d] (the step's queries, RoPE applied), keys/values: [rows, maxLen, KvH, d] (the layer's cache, this
    /// step's K/V already written), cacheRows[s] / lengths[s]: the cache row and key count (position + 1) of sequence s,
    /// o: [S, H, d] output, scores: <see cref="ScratchFloats"/> floats of scratch.
    /// </summary>
    public static void Apply(float* q, float* keys, float* values, int[] cacheRows, int[] lengths,
        float* o, int heads, int kvHeads, int headDim, int maxLen, float* scores, int threads)
    {
        // (sequence, KV head) pairs split across threads in interleaved order (sequences differ in length); each part
        // has its own group × maxLen floats of the score scratch. One item is a whole GQA group: the query heads that
        // share a KV head read its K and V rows together, while they are in L1 (llama.cpp's flash-attention path instead
        // takes one query head per item and reads the rows once per head).
        int group = heads / kvHeads;
        int items = cacheRows.Length * kvHeads;
        int parts = KernelPool.Shared.Parts(threads, items);
        if (parts <= 1)
        {
            Range(q, keys, values, cacheRows, lengths, o, heads, kvHeads, headDim, maxLen, scores, 0, 1);
            return;
        }
        nint pq = (nint)q, pk = (nint)keys, pv = (nint)values, po = (nint)o, ps = (nint)scores;   // pointers cannot be captured
        KernelPool.Shared.For(parts, part => Range((float*)pq, (float*)pk, (float*)pv, cacheRows, lengths, (float*)po,
            heads, kvHeads, headDim, maxLen, (float*)ps + (long)part * group * maxLen, part, parts));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // hot loops: fully optimised from the first call, not tier-0 code in the first requests (tiered JIT)
    private static void Range(float* q, float* keys, float* values, int[] cacheRows, int[] lengths,
        float* o, int heads, int kvHeads, int headDim, int maxLen, float* scores, int first, int step)
    {
        int group = heads / kvHeads;
        long posStride = (long)kvHeads * headDim;          // floats between consecutive positions of one KV head
        float scale = 1f / MathF.Sqrt(headDim);
        for (int item = first; item < cacheRows.Length * kvHeads; item += step)
        {
            int s = item / kvHeads, kv = item % kvHeads;
            int len = lengths[s];
            long at = (long)cacheRows[s] * maxLen * posStride + (long)kv * headDim;   // position 0 of this KV head in K and V
            float* k0 = keys + at, v0 = values + at;
            float* q0 = q + ((long)s * heads + (long)kv * group) * headDim;                        // the group's first query head
            float* o0 = o + ((long)s * heads + (long)kv * group) * headDim;
            // Scores: each K row once for the group's heads.
            for (int j = 0; j < len; j++)
            {
                float* kj = k0 + j * posStride;
                for (int g = 0; g < group; g++) scores[(long)g * maxLen + j] = Dot(q0 + (long)g * headDim, kj, headDim) * scale;
            }
            for (int g = 0; g < group; g++)
            {
                float* sg = scores + (long)g * maxLen;
                Softmax(sg, len);
                WeightedSum(sg, v0, posStride, len, o0 + (long)g * headDim, headDim);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static float Dot(float* a, float* b, int n)
    {
        var acc = Vector256<float>.Zero;
        int i = 0;
        for (; i <= n - 8; i += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc);
        float sum = Vector256.Sum(acc);
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>s[0..n) ← softmax(s), exp eight lanes at a time (<c>Vector256.Exp</c>), the max subtracted first.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Softmax(float* s, int n)
    {
        var vmax = Vector256.Create(float.NegativeInfinity);
        int j = 0;
        for (; j <= n - 8; j += 8) vmax = Vector256.Max(vmax, Vector256.Load(s + j));
        float max = float.NegativeInfinity;
        for (int l = 0; l < 8; l++) max = MathF.Max(max, vmax.GetElement(l));
        for (; j < n; j++) max = MathF.Max(max, s[j]);
        var m = Vector256.Create(max);
        var vsum = Vector256<float>.Zero;
        j = 0;
        for (; j <= n - 8; j += 8)
        {
            var e = Vector256.Exp(Vector256.Load(s + j) - m);
            e.Store(s + j);
            vsum += e;
        }
        float sum = Vector256.Sum(vsum);
        for (; j < n; j++)
        {
            float e = MathF.Exp(s[j] - max);
            s[j] = e;
            sum += e;
        }
        float inv = 1f / sum;
        var vinv = Vector256.Create(inv);
        j = 0;
        for (; j <= n - 8; j += 8) (Vector256.Load(s + j) * vinv).Store(s + j);
        for (; j < n; j++) s[j] *= inv;
    }

    /// <summary>
    /// out[0..d) = Σ_j p[j]·V[j] over the n cached positions (V row j at v + j·stride), 32 output floats at a time in
    /// four register accumulators: each V row chunk is loaded once and nothing is stored until the sum is done.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WeightedSum(float* p, float* v, long stride, int n, float* output, int d)
    {
        int c = 0;
        for (; c <= d - 32; c += 32)
        {
            var a0 = Vector256<float>.Zero; var a1 = Vector256<float>.Zero; var a2 = Vector256<float>.Zero; var a3 = Vector256<float>.Zero;
            float* vc = v + c;
            for (int j = 0; j < n; j++, vc += stride)
            {
                var pj = Vector256.Create(p[j]);
                a0 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(vc), a0);
                a1 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(vc + 8), a1);
                a2 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(vc + 16), a2);
                a3 = Vector256.FusedMultiplyAdd(pj, Vector256.Load(vc + 24), a3);
            }
            a0.Store(output + c); a1.Store(output + c + 8); a2.Store(output + c + 16); a3.Store(output + c + 24);
        }
        for (; c <= d - 8; c += 8)
        {
            var a = Vector256<float>.Zero;
            float* vc = v + c;
            for (int j = 0; j < n; j++, vc += stride) a = Vector256.FusedMultiplyAdd(Vector256.Create(p[j]), Vector256.Load(vc), a);
            a.Store(output + c);
        }
        for (; c < d; c++)
        {
            float a = 0;
            for (int j = 0; j < n; j++) a += p[j] * v[j * stride + c];
            output[c] = a;
        }
    }
}
