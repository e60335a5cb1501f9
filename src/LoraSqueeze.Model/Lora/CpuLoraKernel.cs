using System.Runtime.CompilerServices;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoraSqueeze.Model.Lora;

/// <summary>How the slot stacks of one projection are stored (<see cref="ModelLoadOptions.SlotDType"/>).</summary>
internal enum SlotFormat
{
    Float32,
    BFloat16,

    /// <summary>int8 with one float32 scale per rank row of A and of Bᵀ (symmetric, per-row absmax / 127).</summary>
    Int8,
}

/// <summary>
/// Raw views of one projection's slot stacks: A [slots, r, in], Bᵀ [slots, r, out] and, for int8, the per-row scales
/// [slots, r] of each. Pointers as integers so a worker lambda can carry them.
/// </summary>
internal readonly record struct SlotStacks(SlotFormat Format, nint A, nint B, nint AScale, nint BScale, int In, int Out, int Rank);

/// <summary>
/// The LoRA term of decode-shaped rows on the CPU, read straight out of the slot stacks: Punica's BGMV
/// ("batched gather matrix-vector", Chen et al. 2023, punica/csrc/bgmv) without the gather. For each row t on slot s:
/// h = Aₛ·xₜ (r dot products of length in), then yₜ += Bₛᵀ·h, with B kept as [slots, r, out] so the expand is r
/// contiguous axpy rows fused into one pass over yₜ. Every weight is read once per row and nothing is copied, where the
/// torch gather path (<see cref="LoraKernel.Gathered"/>) writes and re-reads T·r·(in+out) floats and the segmented path
/// pays ~8 TorchSharp calls per distinct adapter and projection (docs/benchmarks/decode.md measures all three).
/// Activations are float32 on the CPU; slots are float32, bfloat16 or int8 (<see cref="SlotFormat"/>): a decode step
/// is bound by the bytes it reads, and those formats read 1, ½ and ¼ of them. The caller checks dtypes and devices.
/// </summary>
internal static unsafe class CpuLoraKernel
{
    /// <summary>Rows at or below which a segment goes through this kernel; longer ones (prefill) are a GEMM for libtorch.</summary>
    public const int MaxSegmentRows = 4;

    /// <summary>
    /// y[rows[i]] += Σₛ Bₛᵀ·(Aₛ·x[rows[i]]) over the slots s of row i, slots[slotStart[i] .. slotStart[i + 1]) (CSR: an
    /// adapter on a group of k slots adds k rank-r terms; most rows have one). x: [T, in], y: [T, out] row-major
    /// float32. Rows are split across <paramref name="threads"/> workers; a row's slots stay on one worker, so each row
    /// is written by one thread only.
    /// </summary>
    public static void Apply(float* x, float* y, SlotStacks stacks, int[] rows, int[] slotStart, int[] slots, int threads)
    {
        int n = rows.Length;
        if (n == 0) return;
        if (threads <= 1 || n == 1)
        {
            for (int i = 0; i < n; i++) RowSlots(x, y, stacks, rows[i], slots, slotStart[i], slotStart[i + 1]);
            return;
        }
        int parts = Kernels.KernelPool.Shared.Parts(threads, n);
        nint px = (nint)x, py = (nint)y; // raw pointers cannot be captured by a lambda
        Kernels.KernelPool.Shared.For(parts, part =>
        {
            for (int i = part; i < n; i += parts) RowSlots((float*)px, (float*)py, stacks, rows[i], slots, slotStart[i], slotStart[i + 1]);
        });
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // hot loops: fully optimised from the first call, not tier-0 code in the first requests (tiered JIT)
    private static void RowSlots(float* x, float* y, SlotStacks stacks, int row, int[] slots, int from, int to)
    {
        for (int k = from; k < to; k++) Row(x, y, stacks, row, slots[k]);
    }

    private static void Row(float* x, float* y, SlotStacks s, int row, int slot)
    {
        float* xt = x + (long)row * s.In;                                                 // [in]
        float* yt = y + (long)row * s.Out;                                                // [out]
        long aOffset = (long)slot * s.Rank * s.In, bOffset = (long)slot * s.Rank * s.Out;
        switch (s.Format)
        {
            case SlotFormat.Float32:
                RowFloat32(xt, yt, (float*)s.A + aOffset, (float*)s.B + bOffset, s.In, s.Out, s.Rank);
                break;
            case SlotFormat.BFloat16:
                RowBFloat16(xt, yt, (ushort*)s.A + aOffset, (ushort*)s.B + bOffset, s.In, s.Out, s.Rank);
                break;
            default:
                RowInt8(xt, yt, (sbyte*)s.A + aOffset, (sbyte*)s.B + bOffset,
                    (float*)s.AScale + (long)slot * s.Rank, (float*)s.BScale + (long)slot * s.Rank, s.In, s.Out, s.Rank);
                break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowFloat32(float* xt, float* yt, float* aS, float* bS, int inFeatures, int outFeatures, int rank)
    {
        var x = new ReadOnlySpan<float>(xt, inFeatures);
        Span<float> h = rank <= 256 ? stackalloc float[rank] : new float[rank];            // [r]
        int j0 = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            // Four rank rows of Aₛ per pass against xₜ (x loaded once per chunk, four independent FMA chains). With the
            // four-block expand below: the BGMV term of 8 rows on 8 rank-16 float32 adapters over the h1024 model's 28
            // projections (37 MB) from 3.0 to 2.2–2.3 ms, 12 → 16–17 GB/s (2 threads, caches flushed between steps).
            for (; j0 + 3 < rank; j0 += 4)
            {
                float* a0 = aS + (long)j0 * inFeatures, a1 = a0 + inFeatures, a2 = a1 + inFeatures, a3 = a2 + inFeatures;
                var s0 = Vector256<float>.Zero; var s1 = Vector256<float>.Zero; var s2 = Vector256<float>.Zero; var s3 = Vector256<float>.Zero;
                int i = 0;
                for (; i <= inFeatures - 8; i += 8)
                {
                    var v = Vector256.Load(xt + i);
                    s0 = Vector256.FusedMultiplyAdd(Vector256.Load(a0 + i), v, s0);
                    s1 = Vector256.FusedMultiplyAdd(Vector256.Load(a1 + i), v, s1);
                    s2 = Vector256.FusedMultiplyAdd(Vector256.Load(a2 + i), v, s2);
                    s3 = Vector256.FusedMultiplyAdd(Vector256.Load(a3 + i), v, s3);
                }
                float h0 = Vector256.Sum(s0), h1 = Vector256.Sum(s1), h2 = Vector256.Sum(s2), h3 = Vector256.Sum(s3);
                for (; i < inFeatures; i++) { h0 += a0[i] * xt[i]; h1 += a1[i] * xt[i]; h2 += a2[i] * xt[i]; h3 += a3[i] * xt[i]; }
                h[j0] = h0; h[j0 + 1] = h1; h[j0 + 2] = h2; h[j0 + 3] = h3;
            }
        }
        for (int j = j0; j < rank; j++)
            h[j] = TensorPrimitives.Dot(new ReadOnlySpan<float>(aS + (long)j * inFeatures, inFeatures), x);

        // yₜ[o] += Σⱼ h[j]·Bₛ[j, o]: one pass over yₜ, the r rows of Bₛ streamed alongside. Four vector-wide blocks at a
        // time: four independent FMA chains (one block alone is a chain of r dependent FMAs, latency-bound).
        int w = Vector<float>.Count, o = 0;
        for (; o <= outFeatures - 4 * w; o += 4 * w)
        {
            var acc0 = Vector.Load(yt + o); var acc1 = Vector.Load(yt + o + w);
            var acc2 = Vector.Load(yt + o + 2 * w); var acc3 = Vector.Load(yt + o + 3 * w);
            for (int j = 0; j < rank; j++)
            {
                var hj = new Vector<float>(h[j]);
                float* bj = bS + (long)j * outFeatures + o;
                acc0 = Vector.FusedMultiplyAdd(hj, Vector.Load(bj), acc0);
                acc1 = Vector.FusedMultiplyAdd(hj, Vector.Load(bj + w), acc1);
                acc2 = Vector.FusedMultiplyAdd(hj, Vector.Load(bj + 2 * w), acc2);
                acc3 = Vector.FusedMultiplyAdd(hj, Vector.Load(bj + 3 * w), acc3);
            }
            Vector.Store(acc0, yt + o); Vector.Store(acc1, yt + o + w);
            Vector.Store(acc2, yt + o + 2 * w); Vector.Store(acc3, yt + o + 3 * w);
        }
        for (; o <= outFeatures - w; o += w)
        {
            var acc = Vector.Load(yt + o);
            for (int j = 0; j < rank; j++) acc = Vector.FusedMultiplyAdd(new Vector<float>(h[j]), Vector.Load(bS + (long)j * outFeatures + o), acc);
            Vector.Store(acc, yt + o);
        }
        for (; o < outFeatures; o++)
        {
            float acc = yt[o];
            for (int j = 0; j < rank; j++) acc += h[j] * bS[(long)j * outFeatures + o];
            yt[o] = acc;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowBFloat16(float* xt, float* yt, ushort* aS, ushort* bS, int inFeatures, int outFeatures, int rank)
    {
        Span<float> h = rank <= 256 ? stackalloc float[rank] : new float[rank];            // [r]
        for (int j = 0; j < rank; j++)
        {
            ushort* aj = aS + (long)j * inFeatures;
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            int i = 0;
            for (; i <= inFeatures - 16; i += 16)
            {
                var (lo, hi) = Widen(Vector256.Load(aj + i));
                acc0 = Vector256.FusedMultiplyAdd(lo, Vector256.Load(xt + i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(hi, Vector256.Load(xt + i + 8), acc1);
            }
            float sum = Vector256.Sum(acc0 + acc1);
            for (; i < inFeatures; i++) sum += ToSingle(aj[i]) * xt[i];
            h[j] = sum;
        }
        int o = 0;
        for (; o <= outFeatures - 16; o += 16)
        {
            var acc0 = Vector256.Load(yt + o);
            var acc1 = Vector256.Load(yt + o + 8);
            for (int j = 0; j < rank; j++)
            {
                var hj = Vector256.Create(h[j]);
                var (lo, hi) = Widen(Vector256.Load(bS + (long)j * outFeatures + o));
                acc0 = Vector256.FusedMultiplyAdd(hj, lo, acc0);
                acc1 = Vector256.FusedMultiplyAdd(hj, hi, acc1);
            }
            acc0.Store(yt + o);
            acc1.Store(yt + o + 8);
        }
        for (; o < outFeatures; o++)
        {
            float acc = yt[o];
            for (int j = 0; j < rank; j++) acc += h[j] * ToSingle(bS[(long)j * outFeatures + o]);
            yt[o] = acc;
        }
    }

    /// <summary>
    /// int8 slots: h[j] = sᴬⱼ·Σᵢ qᴬ[j,i]·x[i]; y[o] += Σⱼ (h[j]·sᴮⱼ)·qᴮ[j,o]. The B row scale is folded into h, so
    /// both inner loops are plain int8 → float32 widen-and-FMA (vpmovsxbd + vcvtdq2ps with AVX2).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RowInt8(float* xt, float* yt, sbyte* aS, sbyte* bS, float* aScale, float* bScale, int inFeatures, int outFeatures, int rank)
    {
        Span<float> h = rank <= 256 ? stackalloc float[rank] : new float[rank];            // [r]
        for (int j = 0; j < rank; j++)
        {
            sbyte* aj = aS + (long)j * inFeatures;
            float sum = 0;
            int i = 0;
            if (Avx2.IsSupported)
            {
                var acc0 = Vector256<float>.Zero;
                var acc1 = Vector256<float>.Zero;
                for (; i <= inFeatures - 16; i += 16)
                {
                    acc0 = Vector256.FusedMultiplyAdd(Widen(aj + i), Vector256.Load(xt + i), acc0);
                    acc1 = Vector256.FusedMultiplyAdd(Widen(aj + i + 8), Vector256.Load(xt + i + 8), acc1);
                }
                sum = Vector256.Sum(acc0 + acc1);
            }
            for (; i < inFeatures; i++) sum += aj[i] * xt[i];
            h[j] = sum * aScale[j] * bScale[j];
        }
        int o = 0;
        if (Avx2.IsSupported)
        {
            for (; o <= outFeatures - 16; o += 16)
            {
                var acc0 = Vector256.Load(yt + o);
                var acc1 = Vector256.Load(yt + o + 8);
                for (int j = 0; j < rank; j++)
                {
                    var hj = Vector256.Create(h[j]);
                    sbyte* bj = bS + (long)j * outFeatures + o;
                    acc0 = Vector256.FusedMultiplyAdd(hj, Widen(bj), acc0);
                    acc1 = Vector256.FusedMultiplyAdd(hj, Widen(bj + 8), acc1);
                }
                acc0.Store(yt + o);
                acc1.Store(yt + o + 8);
            }
        }
        for (; o < outFeatures; o++)
        {
            float acc = yt[o];
            for (int j = 0; j < rank; j++) acc += h[j] * bS[(long)j * outFeatures + o];
            yt[o] = acc;
        }
    }

    /// <summary>16 bfloat16 words → two float32 vectors: a bfloat16 is the upper half of a float32's bits.</summary>
    private static (Vector256<float> Lower, Vector256<float> Upper) Widen(Vector256<ushort> words)
    {
        var (lo, hi) = Vector256.Widen(words);
        return (Vector256.ShiftLeft(lo, 16).AsSingle(), Vector256.ShiftLeft(hi, 16).AsSingle());
    }

    /// <summary>8 int8 values → 8 float32 (sign-extending load, then convert).</summary>
    private static Vector256<float> Widen(sbyte* p) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32(p));

    private static float ToSingle(ushort word) => BitConverter.Int32BitsToSingle(word << 16);
}
