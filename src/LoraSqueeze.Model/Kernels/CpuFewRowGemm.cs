using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// y = x·Wᵀ + b for the few rows of a decode step on the CPU, float32, written by hand (no library here has a GEMM for
/// this shape: libtorch's CPU <c>linear</c> at 8 rows streams W at a third of the speed it does at 1 row — issue 14's
/// measurements, 15 GB/s against 43 GB/s on <c>gate_proj</c> of the h1024 model). Each weight row is read from memory
/// once for all rows of x (x itself stays in L1/L2: 8 rows of 4096 floats are 128 KiB), so a step costs about the
/// bytes of W whether it has 1 row or 16 — the bytes-bound kernel llama.cpp's <c>ggml_vec_dot</c> loops amount to.
/// Float32 at 2–16 rows: three weight rows × four x rows per pass (twelve 256-bit accumulators, <see cref="Triple"/>);
/// packed weights and the last rows of a range: two × four (eight accumulators, six loads per eight FMAs); one x row:
/// four weight rows per pass. Output rows are split across threads in blocks (<see cref="OutputBlocks"/>; each thread writes only
/// its own columns of y), and a group of projections of the same x runs as one split (<see cref="ApplyGroup"/>).
/// </summary>
internal static unsafe class CpuFewRowGemm
{
    /// <summary>Rows at or below which <see cref="BaseKernel.FewRows"/> uses this kernel; above, libtorch's GEMM.</summary>
    public const int MaxRows = 16;

    /// <summary>x: [rows, in], w: [out, in], bias: [out] or null, y: [rows, out]; all row-major and contiguous.</summary>
    public static void Apply(float* x, int rows, float* w, float* bias, float* y, int inFeatures, int outFeatures, int threads)
    {
        var output = new GemmOutput { Weight = (byte*)w, Bias = bias, Y = y, OutFeatures = outFeatures };
        Run<F32Load>(x, rows, inFeatures, &output, 1, threads);
    }

    /// <summary>True where the bf16/int8 loads of <see cref="ApplyGroup"/> have their AVX2 instructions (elsewhere callers widen the weight first).</summary>
    public static bool SupportsPacked => System.Runtime.Intrinsics.X86.Avx2.IsSupported;

    /// <summary>
    /// Widens a packed weight [out, in] (int8 with per-row <paramref name="scales"/>, or bfloat16) into float32
    /// <paramref name="dst"/> [out, in], rows split across threads: the prefill path's conversion.
    /// </summary>
    public static void Widen(byte* w, bool int8, float* scales, float* dst, int outFeatures, int inFeatures, int threads)
    {
        // The packed weight as the source and dst as the "output" of one GemmOutput: OutputBlocks splits its rows.
        var rows = new GemmOutput { Weight = w, Scales = scales, Y = dst, OutFeatures = outFeatures };
        if (int8) OutputBlocks.Run(&rows, 1, threads, align: 1, &WidenBlock<Int8Load>, inFeatures);
        else OutputBlocks.Run(&rows, 1, threads, align: 1, &WidenBlock<Bf16Load>, inFeatures);
    }

    /// <summary>Rows [from, to) of a packed weight widened into its float32 copy; the context is the row length.</summary>
    private static void WidenBlock<TW>(nint inFeatures, GemmOutput* o, int from, int to) where TW : struct, IWeightLoad
    {
        int n = (int)inFeatures;
        for (int r = from; r < to; r++)
            WidenRow<TW>(o->Weight + (long)r * n * TW.ElementBytes, o->Scales is null ? 1f : o->Scales[r], o->Y + (long)r * n, n);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // hot loops: fully optimised from the first call, not tier-0 code in the first requests (tiered JIT)
    private static void WidenRow<TW>(byte* row, float scale, float* dst, int n) where TW : struct, IWeightLoad
    {
        var vs = Vector256.Create(scale);
        int i = 0;
        for (; i <= n - 8; i += 8) (TW.Load8(row, i) * vs).Store(dst + i);
        for (; i < n; i++) dst[i] = TW.Load1(row, i) * scale;
    }

    /// <summary>
    /// A group of projections of the same input x [rows, in] (q/k/v, gate/up), all stored as <paramref name="storage"/>
    /// (Float32, BFloat16 or Int8 with scales): one parallel region over their concatenated output rows
    /// (<see cref="OutputBlocks"/>), each weight row still read once for all rows of x.
    /// </summary>
    public static void ApplyGroup(float* x, int rows, int inFeatures, GemmOutput* outputs, int count, TorchSharp.torch.ScalarType storage, int threads)
    {
        switch (storage)
        {
            case TorchSharp.torch.ScalarType.Float32: Run<F32Load>(x, rows, inFeatures, outputs, count, threads); break;
            case TorchSharp.torch.ScalarType.BFloat16: Run<Bf16Load>(x, rows, inFeatures, outputs, count, threads); break;
            case TorchSharp.torch.ScalarType.Int8: Run<Int8Load>(x, rows, inFeatures, outputs, count, threads); break;
            default: throw new ArgumentOutOfRangeException(nameof(storage), storage, "the few-row kernel reads float32, bfloat16 or int8 weights");
        }
    }

    private static void Run<TW>(float* x, int rows, int inFeatures, GemmOutput* outputs, int count, int threads) where TW : struct, IWeightLoad
    {
        if (rows == 0) return;
        var input = new Rows { X = x, Count = rows, InFeatures = inFeatures };
        // Blocks of an even number of output rows (the pair loop), at least 64 per thread so tiny layers stay on one.
        OutputBlocks.Run(outputs, count, threads, align: 2, &BlockOf<TW>, (nint)(&input));
    }

    /// <summary>The rows of x a group's blocks share (the <see cref="OutputBlocks"/> context).</summary>
    private struct Rows
    {
        public float* X;
        public int Count;
        public int InFeatures;
    }

    private static void BlockOf<TW>(nint context, GemmOutput* o, int from, int to) where TW : struct, IWeightLoad
    {
        var input = (Rows*)context;
        Block<TW>(input->X, input->Count, o->Weight, o->Scales, o->Bias, o->Y, input->InFeatures, o->OutFeatures, from, to);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Block<TW>(float* x, int rows, byte* w, float* scales, float* bias, float* y, int inF, int outF, int from, int to)
        where TW : struct, IWeightLoad
    {
        long stride = (long)inF * TW.ElementBytes;   // bytes per weight row
        int o = from;
        if (rows == 1)
        {
            // One row (batch-1 decode): four weight rows per pass against the one x row, no repeated work.
            for (; o + 3 < to; o += 4)
                Quad<TW>(x, w + o * stride, stride, inF, scales is null ? null : scales + o, bias is null ? null : bias + o, y + o, TW.PrefetchOneRow && o + 7 < to ? w + (o + 4) * stride : null);
        }
        else if (typeof(TW) == typeof(F32Load))
        {
            // Few float32 rows: three weight rows × four x rows per pass (twelve accumulators: more FMAs per load than
            // the pair loop's eight), then the pair loop below for the last one or two rows of the range.
            for (; o + 2 < to; o += 3)
            {
                for (int t = 0; t < rows; t += 4)
                {
                    int ahead = o + 3 + 3 * (t / 4);   // each pass prefetches the triple after the previous pass's
                    Triple((float*)x, Math.Min(4, rows - t), t, (float*)(w + o * stride), bias is null ? null : bias + o, y, inF, outF, o,
                        ahead + 2 < to ? w + ahead * stride : null, stride);
                }
            }
        }
        for (; o + 1 < to; o += 2)
        {
            for (int t = 0; t < rows; t += 4)
            {
                // Each pass prefetches the pair after the one the previous pass did (o + 2, then o + 4, …).
                int ahead = o + 2 + t / 2;
                Pair<TW>(x, Math.Min(4, rows - t), t, w + o * stride, w + (o + 1) * stride, scales is null ? null : scales + o, bias is null ? null : bias + o, y, inF, outF, o,
                    TW.PrefetchFewRows && ahead + 1 < to ? w + ahead * stride : null, stride);
            }
        }
        if (o < to)
        {
            // An odd last row: the pair loop with both weight pointers on it, the second result dropped.
            for (int t = 0; t < rows; t += 4)
                Pair<TW>(x, Math.Min(4, rows - t), t, w + o * stride, null, scales is null ? null : scales + o, bias is null ? null : bias + o, y, inF, outF, o, null, stride);
        }
    }

    /// <summary>
    /// y[o..o+4] for one row x: four dot products of length <paramref name="inF"/>, x loaded once per chunk; the four
    /// weight rows at <paramref name="next"/> (null: none) are prefetched meanwhile, a line per line read.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quad<TW>(float* x, byte* w, long stride, int inF, float* scales, float* bias, float* y, byte* next)
        where TW : struct, IWeightLoad
    {
        byte* w1 = w + stride, w2 = w1 + stride, w3 = w2 + stride;
        var a0 = Vector256<float>.Zero; var a1 = Vector256<float>.Zero; var a2 = Vector256<float>.Zero; var a3 = Vector256<float>.Zero;
        int i = 0;
        for (; i <= inF - 8; i += 8)
        {
            if (next != null && ((i * TW.ElementBytes) & 63) == 0) Prefetch4(next, stride, (long)i * TW.ElementBytes);
            var v = Vector256.Load(x + i);
            a0 = Vector256.FusedMultiplyAdd(TW.Load8(w, i), v, a0);
            a1 = Vector256.FusedMultiplyAdd(TW.Load8(w1, i), v, a1);
            a2 = Vector256.FusedMultiplyAdd(TW.Load8(w2, i), v, a2);
            a3 = Vector256.FusedMultiplyAdd(TW.Load8(w3, i), v, a3);
        }
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        for (; i < inF; i++)
        {
            s0 += TW.Load1(w, i) * x[i]; s1 += TW.Load1(w1, i) * x[i]; s2 += TW.Load1(w2, i) * x[i]; s3 += TW.Load1(w3, i) * x[i];
        }
        if (scales is not null)
        {
            s0 *= scales[0]; s1 *= scales[1]; s2 *= scales[2]; s3 *= scales[3];
        }
        y[0] = s0 + (bias is null ? 0 : bias[0]);
        y[1] = s1 + (bias is null ? 0 : bias[1]);
        y[2] = s2 + (bias is null ? 0 : bias[2]);
        y[3] = s3 + (bias is null ? 0 : bias[3]);
    }

    /// <summary>
    /// y[t..t+n, o] and y[t..t+n, o+1] for n ≤ 4 rows of x starting at row t (rows past n repeat row t and are not
    /// stored); <paramref name="w1"/> null: only column o. The two weight rows at <paramref name="next"/> (null: none)
    /// are prefetched meanwhile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pair<TW>(float* x, int n, int t, byte* w0, byte* w1, float* scales, float* bias, float* y, int inF, int outF, int o, byte* next, long stride)
        where TW : struct, IWeightLoad
    {
        float* x0 = x + (long)t * inF;
        float* x1 = n > 1 ? x0 + inF : x0;
        float* x2 = n > 2 ? x0 + 2L * inF : x0;
        float* x3 = n > 3 ? x0 + 3L * inF : x0;
        byte* wb = w1 == null ? w0 : w1;
        var a00 = Vector256<float>.Zero; var a01 = Vector256<float>.Zero; var a02 = Vector256<float>.Zero; var a03 = Vector256<float>.Zero;
        var a10 = Vector256<float>.Zero; var a11 = Vector256<float>.Zero; var a12 = Vector256<float>.Zero; var a13 = Vector256<float>.Zero;
        int i = 0;
        for (; i <= inF - 8; i += 8)
        {
            if (next != null && ((i * TW.ElementBytes) & 63) == 0) Prefetch2(next, stride, (long)i * TW.ElementBytes);
            var v0 = TW.Load8(w0, i);
            var v1 = TW.Load8(wb, i);
            var y0 = Vector256.Load(x0 + i);
            a00 = Vector256.FusedMultiplyAdd(v0, y0, a00);
            a10 = Vector256.FusedMultiplyAdd(v1, y0, a10);
            var y1 = Vector256.Load(x1 + i);
            a01 = Vector256.FusedMultiplyAdd(v0, y1, a01);
            a11 = Vector256.FusedMultiplyAdd(v1, y1, a11);
            var y2 = Vector256.Load(x2 + i);
            a02 = Vector256.FusedMultiplyAdd(v0, y2, a02);
            a12 = Vector256.FusedMultiplyAdd(v1, y2, a12);
            var y3 = Vector256.Load(x3 + i);
            a03 = Vector256.FusedMultiplyAdd(v0, y3, a03);
            a13 = Vector256.FusedMultiplyAdd(v1, y3, a13);
        }
        float s00 = Vector256.Sum(a00), s01 = Vector256.Sum(a01), s02 = Vector256.Sum(a02), s03 = Vector256.Sum(a03);
        float s10 = Vector256.Sum(a10), s11 = Vector256.Sum(a11), s12 = Vector256.Sum(a12), s13 = Vector256.Sum(a13);
        for (; i < inF; i++)
        {
            float u0 = TW.Load1(w0, i), u1 = TW.Load1(wb, i);
            s00 += u0 * x0[i]; s01 += u0 * x1[i]; s02 += u0 * x2[i]; s03 += u0 * x3[i];
            s10 += u1 * x0[i]; s11 += u1 * x1[i]; s12 += u1 * x2[i]; s13 += u1 * x3[i];
        }
        if (scales is not null)
        {
            float c0 = scales[0], c1 = w1 is null ? 0 : scales[1];
            s00 *= c0; s01 *= c0; s02 *= c0; s03 *= c0;
            s10 *= c1; s11 *= c1; s12 *= c1; s13 *= c1;
        }
        float b0 = bias is null ? 0 : bias[0], b1 = bias is null || w1 is null ? 0 : bias[1];
        float* yt = y + (long)t * outF + o;
        yt[0] = s00 + b0;
        if (n > 1) yt[outF] = s01 + b0;
        if (n > 2) yt[2L * outF] = s02 + b0;
        if (n > 3) yt[3L * outF] = s03 + b0;
        if (w1 is null) return;
        yt[1] = s10 + b1;
        if (n > 1) yt[outF + 1] = s11 + b1;
        if (n > 2) yt[2L * outF + 1] = s12 + b1;
        if (n > 3) yt[3L * outF + 1] = s13 + b1;
    }

    /// <summary>
    /// y[t..t+n, o..o+3] for n ≤ 4 rows of x from row t (rows past n repeat row t and are not stored), float32 weight
    /// rows o, o+1, o+2: twelve 256-bit accumulators, three weight and four x loads per twelve FMAs (the pair loop:
    /// six per eight). The three rows at <paramref name="next"/> (null: none) are prefetched meanwhile. In-process A/B
    /// against the pair loop on the h1024 projections (2 threads, 2026-12-04): 1.07–1.08× at 8 rows, 1.03–1.08× at 2, 3
    /// and 5, 1.10× at 16, 1.01× at 4.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Triple(float* x, int n, int t, float* w0, float* bias, float* y, int inF, int outF, int o, byte* next, long stride)
    {
        float* w1 = w0 + inF, w2 = w1 + inF;
        float* x0 = x + (long)t * inF;
        float* x1 = n > 1 ? x0 + inF : x0;
        float* x2 = n > 2 ? x0 + 2L * inF : x0;
        float* x3 = n > 3 ? x0 + 3L * inF : x0;
        var a00 = Vector256<float>.Zero; var a01 = Vector256<float>.Zero; var a02 = Vector256<float>.Zero; var a03 = Vector256<float>.Zero;
        var a10 = Vector256<float>.Zero; var a11 = Vector256<float>.Zero; var a12 = Vector256<float>.Zero; var a13 = Vector256<float>.Zero;
        var a20 = Vector256<float>.Zero; var a21 = Vector256<float>.Zero; var a22 = Vector256<float>.Zero; var a23 = Vector256<float>.Zero;
        int i = 0;
        for (; i <= inF - 8; i += 8)
        {
            if (next != null && (i & 15) == 0) Prefetch3(next, stride, (long)i * sizeof(float));
            var v0 = Vector256.Load(w0 + i);
            var v1 = Vector256.Load(w1 + i);
            var v2 = Vector256.Load(w2 + i);
            var u = Vector256.Load(x0 + i);
            a00 = Vector256.FusedMultiplyAdd(v0, u, a00); a10 = Vector256.FusedMultiplyAdd(v1, u, a10); a20 = Vector256.FusedMultiplyAdd(v2, u, a20);
            u = Vector256.Load(x1 + i);
            a01 = Vector256.FusedMultiplyAdd(v0, u, a01); a11 = Vector256.FusedMultiplyAdd(v1, u, a11); a21 = Vector256.FusedMultiplyAdd(v2, u, a21);
            u = Vector256.Load(x2 + i);
            a02 = Vector256.FusedMultiplyAdd(v0, u, a02); a12 = Vector256.FusedMultiplyAdd(v1, u, a12); a22 = Vector256.FusedMultiplyAdd(v2, u, a22);
            u = Vector256.Load(x3 + i);
            a03 = Vector256.FusedMultiplyAdd(v0, u, a03); a13 = Vector256.FusedMultiplyAdd(v1, u, a13); a23 = Vector256.FusedMultiplyAdd(v2, u, a23);
        }
        float s00 = Vector256.Sum(a00), s01 = Vector256.Sum(a01), s02 = Vector256.Sum(a02), s03 = Vector256.Sum(a03);
        float s10 = Vector256.Sum(a10), s11 = Vector256.Sum(a11), s12 = Vector256.Sum(a12), s13 = Vector256.Sum(a13);
        float s20 = Vector256.Sum(a20), s21 = Vector256.Sum(a21), s22 = Vector256.Sum(a22), s23 = Vector256.Sum(a23);
        for (; i < inF; i++)
        {
            float u0 = w0[i], u1 = w1[i], u2 = w2[i];
            s00 += u0 * x0[i]; s01 += u0 * x1[i]; s02 += u0 * x2[i]; s03 += u0 * x3[i];
            s10 += u1 * x0[i]; s11 += u1 * x1[i]; s12 += u1 * x2[i]; s13 += u1 * x3[i];
            s20 += u2 * x0[i]; s21 += u2 * x1[i]; s22 += u2 * x2[i]; s23 += u2 * x3[i];
        }
        float b0 = bias is null ? 0 : bias[0], b1 = bias is null ? 0 : bias[1], b2 = bias is null ? 0 : bias[2];
        float* yt = y + (long)t * outF + o;
        yt[0] = s00 + b0; yt[1] = s10 + b1; yt[2] = s20 + b2;
        if (n > 1) { yt[outF] = s01 + b0; yt[outF + 1] = s11 + b1; yt[outF + 2] = s21 + b2; }
        if (n > 2) { yt[2L * outF] = s02 + b0; yt[2L * outF + 1] = s12 + b1; yt[2L * outF + 2] = s22 + b2; }
        if (n > 3) { yt[3L * outF] = s03 + b0; yt[3L * outF + 1] = s13 + b1; yt[3L * outF + 2] = s23 + b2; }
    }

    /// <inheritdoc cref="Prefetch2"/>
    internal static void Prefetch3(byte* rows, long stride, long offset)
    {
        if (!Sse.IsSupported) return;
        Sse.Prefetch0(rows + offset);
        Sse.Prefetch0(rows + stride + offset);
        Sse.Prefetch0(rows + 2 * stride + offset);
    }

    /// <summary>
    /// Brings the line at <paramref name="offset"/> of two (four) consecutive weight rows into the caches ahead of their
    /// use. Why by hand: a weight row of a decode GEMM is 1–11 KiB, the hardware's stream prefetcher stops at each 4 KiB
    /// page and restarts per row, and while the FMAs of a few rows run DRAM sits idle; prefetching the next rows while
    /// computing these measured (in-process A/B, the 28 projections of the h1024 model, 2 threads, 2026-12-04) 1.23× on
    /// f32 at 8 rows, 1.17–1.22× on bf16, 1.35–1.51× on int8 widened at 1 row, and on the int8 dot kernel
    /// (<see cref="CpuInt8DotGemm"/>) 1.27× at 1 row and 1.12× at 8. Where it did not pay, the load type turns it off
    /// (<see cref="IWeightLoad.PrefetchOneRow"/>).
    /// </summary>
    internal static void Prefetch2(byte* rows, long stride, long offset)
    {
        if (!Sse.IsSupported) return;   // a JIT-time constant: elsewhere (Arm) the hint is left out
        Sse.Prefetch0(rows + offset);
        Sse.Prefetch0(rows + stride + offset);
    }

    /// <inheritdoc cref="Prefetch2"/>
    internal static void Prefetch4(byte* rows, long stride, long offset)
    {
        if (!Sse.IsSupported) return;
        Sse.Prefetch0(rows + offset);
        Sse.Prefetch0(rows + stride + offset);
        Sse.Prefetch0(rows + 2 * stride + offset);
        Sse.Prefetch0(rows + 3 * stride + offset);
    }

    /// <summary>Eight (or one) weights of a row, widened to float32: the storage type of a <see cref="PackedWeight"/>.</summary>
    internal interface IWeightLoad
    {
        static abstract int ElementBytes { get; }

        /// <summary>
        /// Whether the one-row (<see cref="Quad{TW}"/>) and the few-row (<see cref="Pair{TW}"/>) loops prefetch the next
        /// weight rows (<see cref="Prefetch2"/>): where measured faster, per storage type (in-process A/B on the h1024
        /// layers' shapes, 2 threads, 2026-12-04: f32 1 row 0.96×, f32 8 rows 1.23×; bf16 1.17× / 1.22×; int8 widened
        /// 1.51× / 0.93×: at 8 rows the widening is compute-bound and the hints only cost issue slots).
        /// </summary>
        static abstract bool PrefetchOneRow { get; }

        /// <inheritdoc cref="PrefetchOneRow"/>
        static abstract bool PrefetchFewRows { get; }
        static abstract Vector256<float> Load8(byte* row, int i);
        static abstract float Load1(byte* row, int i);
    }

    internal readonly struct F32Load : IWeightLoad
    {
        public static int ElementBytes => 4;
        public static bool PrefetchOneRow => false;
        public static bool PrefetchFewRows => true;
        public static Vector256<float> Load8(byte* row, int i) => Vector256.Load((float*)row + i);
        public static float Load1(byte* row, int i) => ((float*)row)[i];
    }

    /// <summary>bfloat16 is the upper half of a float32: zero-extend to 32 bits, shift left 16.</summary>
    internal readonly struct Bf16Load : IWeightLoad
    {
        public static int ElementBytes => 2;
        public static bool PrefetchOneRow => true;
        public static bool PrefetchFewRows => true;
        public static Vector256<float> Load8(byte* row, int i) =>
            Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32((ushort*)row + i), 16).AsSingle();
        public static float Load1(byte* row, int i) => BitConverter.Int32BitsToSingle(((ushort*)row)[i] << 16);
    }

    /// <summary>int8: sign-extend to int32, convert to float32 (the row's scale is applied to the finished sums).</summary>
    internal readonly struct Int8Load : IWeightLoad
    {
        public static int ElementBytes => 1;
        public static bool PrefetchOneRow => true;
        public static bool PrefetchFewRows => false;
        public static Vector256<float> Load8(byte* row, int i) => Avx.ConvertToVector256Single(Avx2.ConvertToVector256Int32((sbyte*)row + i));
        public static float Load1(byte* row, int i) => ((sbyte*)row)[i];
    }
}
