using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace LoraSqueeze.Model.Lora;

/// <summary>
/// The LoRA term of decode-shaped rows on the CPU, read straight out of the slot stacks: Punica's BGMV
/// ("batched gather matrix-vector", Chen et al. 2023, punica/csrc/bgmv) without the gather. For each row t on slot s:
/// h = Aₛ·xₜ (r dot products of length in), then yₜ += Bₛᵀ·h, with B kept as [slots, r, out] so the expand is r
/// contiguous axpy rows fused into one pass over yₜ. Every weight is read once per row and nothing is copied, where the
/// torch gather path (<see cref="LoraKernel.Gathered"/>) writes and re-reads T·r·(in+out) floats and the segmented path
/// pays ~8 TorchSharp calls per distinct adapter and projection (docs/benchmarks/decode.md measures all three).
/// Activations are float32 on the CPU; slots are float32 or bfloat16 (<see cref="ApplyBFloat16"/>: half the bytes, and
/// a decode step is bound by the bytes it reads). The caller checks dtypes and devices.
/// </summary>
internal static unsafe class CpuLoraKernel
{
    /// <summary>Rows at or below which a segment goes through this kernel; longer ones (prefill) are a GEMM for libtorch.</summary>
    public const int MaxSegmentRows = 4;

    /// <summary>
    /// y[rows[i]] += Bₛᵀ·(Aₛ·x[rows[i]]) with s = slots[i]. x: [T, in], y: [T, out] row-major; a: [S, r, in];
    /// bt: [S, r, out]. Rows are split across <paramref name="threads"/> workers (each row writes only its own y row).
    /// </summary>
    public static void Apply(float* x, float* y, float* a, float* bt, int inFeatures, int outFeatures, int rank,
        int[] rows, int[] slots, int threads)
    {
        int n = rows.Length;
        if (n == 0) return;
        if (threads <= 1 || n == 1)
        {
            for (int i = 0; i < n; i++) Row(x, y, a, bt, inFeatures, outFeatures, rank, rows[i], slots[i]);
            return;
        }
        int parts = Math.Min(threads, n);
        // Raw pointers cannot be captured by a lambda; pass them as integers.
        nint px = (nint)x, py = (nint)y, pa = (nint)a, pb = (nint)bt;
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
        {
            for (int i = part; i < n; i += parts)
                Row((float*)px, (float*)py, (float*)pa, (float*)pb, inFeatures, outFeatures, rank, rows[i], slots[i]);
        });
    }

    /// <summary>As <see cref="Apply"/>, with the slots stored as bfloat16 (raw 16-bit words) and float32 accumulation.</summary>
    public static void ApplyBFloat16(float* x, float* y, ushort* a, ushort* bt, int inFeatures, int outFeatures, int rank,
        int[] rows, int[] slots, int threads)
    {
        int n = rows.Length;
        if (n == 0) return;
        if (threads <= 1 || n == 1)
        {
            for (int i = 0; i < n; i++) RowBFloat16(x, y, a, bt, inFeatures, outFeatures, rank, rows[i], slots[i]);
            return;
        }
        int parts = Math.Min(threads, n);
        nint px = (nint)x, py = (nint)y, pa = (nint)a, pb = (nint)bt;
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
        {
            for (int i = part; i < n; i += parts)
                RowBFloat16((float*)px, (float*)py, (ushort*)pa, (ushort*)pb, inFeatures, outFeatures, rank, rows[i], slots[i]);
        });
    }

    private static void Row(float* x, float* y, float* a, float* bt, int inFeatures, int outFeatures, int rank, int row, int slot)
    {
        var xt = new ReadOnlySpan<float>(x + (long)row * inFeatures, inFeatures);       // [in]
        float* yt = y + (long)row * outFeatures;                                           // [out]
        float* aS = a + (long)slot * rank * inFeatures;                                    // [r, in]
        float* bS = bt + (long)slot * rank * outFeatures;                                  // [r, out]
        Span<float> h = rank <= 256 ? stackalloc float[rank] : new float[rank];            // [r]
        for (int j = 0; j < rank; j++)
            h[j] = TensorPrimitives.Dot(new ReadOnlySpan<float>(aS + (long)j * inFeatures, inFeatures), xt);

        // yₜ[o] += Σⱼ h[j]·Bₛ[j, o]: one pass over yₜ per vector-wide block, the r rows of Bₛ streamed alongside.
        int w = Vector<float>.Count, o = 0;
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

    private static void RowBFloat16(float* x, float* y, ushort* a, ushort* bt, int inFeatures, int outFeatures, int rank, int row, int slot)
    {
        float* xt = x + (long)row * inFeatures;                                            // [in]
        float* yt = y + (long)row * outFeatures;                                           // [out]
        ushort* aS = a + (long)slot * rank * inFeatures;                                   // [r, in] bf16
        ushort* bS = bt + (long)slot * rank * outFeatures;                                 // [r, out] bf16
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

    /// <summary>16 bfloat16 words → two float32 vectors: a bfloat16 is the upper half of a float32's bits.</summary>
    private static (Vector256<float> Lower, Vector256<float> Upper) Widen(Vector256<ushort> words)
    {
        var (lo, hi) = Vector256.Widen(words);
        return (Vector256.ShiftLeft(lo, 16).AsSingle(), Vector256.ShiftLeft(hi, 16).AsSingle());
    }

    private static float ToSingle(ushort word) => BitConverter.Int32BitsToSingle(word << 16);
}
