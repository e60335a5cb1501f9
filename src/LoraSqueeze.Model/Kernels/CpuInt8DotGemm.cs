using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// y = x·Wᵀ + b for a decode step's few rows with int8 weights (one scale per output row, <see cref="RowQuantizer"/>)
/// and int8 activations (one scale per 32 inputs, <see cref="ActivationQuantizer"/>), multiplied as int8 × int8 with
/// AVX2: the scheme of llama.cpp's Q8_0 × Q8_0 dot product (<c>ggml_vec_dot_q8_0_q8_0</c>, ggml-cpu/arch/x86/quants.c:
/// <c>_mm256_sign_epi8</c> makes x unsigned and moves its sign onto w, <c>_mm256_maddubs_epi16</c> and
/// <c>_mm256_madd_epi16</c> sum 32 products into 8 int32 lanes, one float FMA per block with x's scale). Per 32 weights
/// that is a sixth of the instructions of widening int8 to float32 (<see cref="CpuFewRowGemm.ApplyGroup"/> on int8 storage, the
/// reference this is tested against), whose one-row step was compute-bound at half of llama.cpp's Q8_0 speed.
/// Layout and threading follow <see cref="CpuFewRowGemm"/>: each weight row is read once for all rows of x, output
/// rows split across <see cref="KernelPool"/> threads in blocks (<see cref="OutputBlocks"/>). Hand-written: no library here has an int8 GEMM.
/// </summary>
internal static unsafe class CpuInt8DotGemm
{
    /// <summary>Where this kernel runs: AVX2, and a row length the activation blocks tile.</summary>
    public static bool Supports(int inFeatures) => Avx2.IsSupported && inFeatures % ActivationQuantizer.Block == 0;

    /// <summary>
    /// A group of int8 projections of the same quantised rows — xq: [rows, in] int8 with xs: [rows, in / 32] block
    /// scales; per <see cref="GemmOutput"/> w: [out, in] int8 with row scales [out], bias [out] or null, y: [rows, out]
    /// float32; all row-major and contiguous, in a multiple of 32 — as one parallel region over their concatenated
    /// output rows (<see cref="OutputBlocks"/>).
    /// </summary>
    public static void ApplyGroup(sbyte* xq, float* xs, int rows, int inF, GemmOutput* outputs, int count, int threads)
    {
        if (rows == 0) return;
        var input = new QuantisedRows { Xq = xq, Xs = xs, Count = rows, InFeatures = inF };
        OutputBlocks.Run(outputs, count, threads, align: 4, &BlockOf, (nint)(&input));   // whole quads of output rows per thread
    }

    /// <summary>The quantised rows a group's blocks share (the <see cref="OutputBlocks"/> context).</summary>
    private struct QuantisedRows
    {
        public sbyte* Xq;
        public float* Xs;
        public int Count;
        public int InFeatures;
    }

    private static void BlockOf(nint context, GemmOutput* o, int from, int to)
    {
        var input = (QuantisedRows*)context;
        Block(input->Xq, input->Xs, input->Count, (sbyte*)o->Weight, o->Scales, o->Bias, o->Y, input->InFeatures, o->OutFeatures, from, to);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // hot loops: fully optimised from the first call, not tier-0 code in the first requests (tiered JIT)
    private static void Block(sbyte* xq, float* xs, int rows, sbyte* w, float* ws, float* bias, float* y, int inF, int outF, int from, int to)
    {
        int o = from;
        if (rows == 1)
        {
            for (; o + 3 < to; o += 4)
                Quad(xq, xs, w + (long)o * inF, inF, ws + o, bias is null ? null : bias + o, y + o, o + 7 < to ? w + (long)(o + 4) * inF : null);
        }
        for (; o + 1 < to; o += 2)
            for (int t = 0; t < rows; t += 4)
            {
                int ahead = o + 2 + t / 2;   // each pass prefetches the pair after the previous pass's (CpuFewRowGemm.Prefetch2)
                Pair(xq, xs, Math.Min(4, rows - t), t, w + (long)o * inF, w + (long)(o + 1) * inF, ws + o, bias is null ? null : bias + o, y, inF, outF, o,
                    ahead + 1 < to ? w + (long)ahead * inF : null);
            }
        if (o < to)
            for (int t = 0; t < rows; t += 4)
                Pair(xq, xs, Math.Min(4, rows - t), t, w + (long)o * inF, null, ws + o, bias is null ? null : bias + o, y, inF, outF, o, null);
    }

    /// <summary>Σ over 32 lanes of w·x as eight int32 lanes converted to float: x unsigned via its own sign, the sign moved onto w.</summary>
    private static Vector256<float> Dot32(Vector256<sbyte> w, Vector256<sbyte> x, Vector256<byte> absX, Vector256<short> ones)
    {
        var p16 = Avx2.MultiplyAddAdjacent(absX, Avx2.Sign(w, x));                 // [16] int16: |x|·(w·sign x), pairs summed (≤ 2·127² fits)
        return Avx.ConvertToVector256Single(Avx2.MultiplyAddAdjacent(p16, ones)); // [8] int32 → float
    }

    /// <summary>
    /// y[o..o+4] for one row of x: four weight rows against x, each x block loaded and made unsigned once; the four rows
    /// at <paramref name="next"/> (null: none) prefetched meanwhile (<see cref="CpuFewRowGemm.Prefetch4"/>).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Quad(sbyte* xq, float* xs, sbyte* w, int inF, float* ws, float* bias, float* y, sbyte* next)
    {
        sbyte* w1 = w + inF, w2 = w1 + inF, w3 = w2 + inF;
        var ones = Vector256.Create((short)1);
        var a0 = Vector256<float>.Zero; var a1 = Vector256<float>.Zero; var a2 = Vector256<float>.Zero; var a3 = Vector256<float>.Zero;
        for (int i = 0, b = 0; i < inF; i += 32, b++)
        {
            if (next != null && (i & 63) == 0) CpuFewRowGemm.Prefetch4((byte*)next, inF, i);
            var x = Vector256.Load(xq + i);
            var ax = Avx2.Sign(x, x).AsByte();
            var d = Vector256.Create(xs[b]);
            a0 = Vector256.FusedMultiplyAdd(Dot32(Vector256.Load(w + i), x, ax, ones), d, a0);
            a1 = Vector256.FusedMultiplyAdd(Dot32(Vector256.Load(w1 + i), x, ax, ones), d, a1);
            a2 = Vector256.FusedMultiplyAdd(Dot32(Vector256.Load(w2 + i), x, ax, ones), d, a2);
            a3 = Vector256.FusedMultiplyAdd(Dot32(Vector256.Load(w3 + i), x, ax, ones), d, a3);
        }
        y[0] = Vector256.Sum(a0) * ws[0] + (bias is null ? 0 : bias[0]);
        y[1] = Vector256.Sum(a1) * ws[1] + (bias is null ? 0 : bias[1]);
        y[2] = Vector256.Sum(a2) * ws[2] + (bias is null ? 0 : bias[2]);
        y[3] = Vector256.Sum(a3) * ws[3] + (bias is null ? 0 : bias[3]);
    }

    /// <summary>
    /// y[t..t+n, o] and y[t..t+n, o+1] for n ≤ 4 rows of x from row t (rows past n repeat row t and are not stored);
    /// <paramref name="w1"/> null: only column o. The two rows at <paramref name="next"/> (null: none) are prefetched meanwhile.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Pair(sbyte* xq, float* xs, int n, int t, sbyte* w0, sbyte* w1, float* ws, float* bias, float* y, int inF, int outF, int o, sbyte* next)
    {
        int blocks = inF / 32;
        sbyte* x0 = xq + (long)t * inF;
        sbyte* x1 = n > 1 ? x0 + inF : x0;
        sbyte* x2 = n > 2 ? x0 + 2L * inF : x0;
        sbyte* x3 = n > 3 ? x0 + 3L * inF : x0;
        float* d0 = xs + (long)t * blocks;
        float* d1 = n > 1 ? d0 + blocks : d0;
        float* d2 = n > 2 ? d0 + 2L * blocks : d0;
        float* d3 = n > 3 ? d0 + 3L * blocks : d0;
        sbyte* wb = w1 == null ? w0 : w1;
        var ones = Vector256.Create((short)1);
        var a00 = Vector256<float>.Zero; var a01 = Vector256<float>.Zero; var a02 = Vector256<float>.Zero; var a03 = Vector256<float>.Zero;
        var a10 = Vector256<float>.Zero; var a11 = Vector256<float>.Zero; var a12 = Vector256<float>.Zero; var a13 = Vector256<float>.Zero;
        for (int i = 0, b = 0; i < inF; i += 32, b++)
        {
            if (next != null && (i & 63) == 0) CpuFewRowGemm.Prefetch2((byte*)next, inF, i);
            var v0 = Vector256.Load(w0 + i);
            var v1 = Vector256.Load(wb + i);
            var x = Vector256.Load(x0 + i); var ax = Avx2.Sign(x, x).AsByte(); var d = Vector256.Create(d0[b]);
            a00 = Vector256.FusedMultiplyAdd(Dot32(v0, x, ax, ones), d, a00);
            a10 = Vector256.FusedMultiplyAdd(Dot32(v1, x, ax, ones), d, a10);
            x = Vector256.Load(x1 + i); ax = Avx2.Sign(x, x).AsByte(); d = Vector256.Create(d1[b]);
            a01 = Vector256.FusedMultiplyAdd(Dot32(v0, x, ax, ones), d, a01);
            a11 = Vector256.FusedMultiplyAdd(Dot32(v1, x, ax, ones), d, a11);
            x = Vector256.Load(x2 + i); ax = Avx2.Sign(x, x).AsByte(); d = Vector256.Create(d2[b]);
            a02 = Vector256.FusedMultiplyAdd(Dot32(v0, x, ax, ones), d, a02);
            a12 = Vector256.FusedMultiplyAdd(Dot32(v1, x, ax, ones), d, a12);
            x = Vector256.Load(x3 + i); ax = Avx2.Sign(x, x).AsByte(); d = Vector256.Create(d3[b]);
            a03 = Vector256.FusedMultiplyAdd(Dot32(v0, x, ax, ones), d, a03);
            a13 = Vector256.FusedMultiplyAdd(Dot32(v1, x, ax, ones), d, a13);
        }
        float c0 = ws[0], c1 = w1 is null ? 0 : ws[1];
        float b0 = bias is null ? 0 : bias[0], b1 = bias is null || w1 is null ? 0 : bias[1];
        float* yt = y + (long)t * outF + o;
        yt[0] = Vector256.Sum(a00) * c0 + b0;
        if (n > 1) yt[outF] = Vector256.Sum(a01) * c0 + b0;
        if (n > 2) yt[2L * outF] = Vector256.Sum(a02) * c0 + b0;
        if (n > 3) yt[3L * outF] = Vector256.Sum(a03) * c0 + b0;
        if (w1 is null) return;
        yt[1] = Vector256.Sum(a10) * c1 + b1;
        if (n > 1) yt[outF + 1] = Vector256.Sum(a11) * c1 + b1;
        if (n > 2) yt[2L * outF + 1] = Vector256.Sum(a12) * c1 + b1;
        if (n > 3) yt[3L * outF + 1] = Vector256.Sum(a13) * c1 + b1;
    }
}
