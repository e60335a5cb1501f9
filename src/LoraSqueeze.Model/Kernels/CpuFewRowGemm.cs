using System.Runtime.Intrinsics;

namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// y = x·Wᵀ + b for the few rows of a decode step on the CPU, float32, written by hand (no library here has a GEMM for
/// this shape: libtorch's CPU <c>linear</c> at 8 rows streams W at a third of the speed it does at 1 row — issue 14's
/// measurements, 15 GB/s against 43 GB/s on <c>gate_proj</c> of the h1024 model). Each weight row is read from memory
/// once for all rows of x (x itself stays in L1/L2: 8 rows of 4096 floats are 128 KiB), so a step costs about the
/// bytes of W whether it has 1 row or 16 — the bytes-bound kernel llama.cpp's <c>ggml_vec_dot</c> loops amount to.
/// Two weight rows × four x rows per pass: eight 256-bit accumulators, six loads per eight FMAs (one x row: four weight
/// rows per pass). Output rows are split
/// across threads in blocks (each thread writes only its own columns of y).
/// </summary>
internal static unsafe class CpuFewRowGemm
{
    /// <summary>Rows at or below which <see cref="BaseKernel.FewRows"/> uses this kernel; above, libtorch's GEMM.</summary>
    public const int MaxRows = 16;

    /// <summary>x: [rows, in], w: [out, in], bias: [out] or null, y: [rows, out]; all row-major and contiguous.</summary>
    public static void Apply(float* x, int rows, float* w, float* bias, float* y, int inFeatures, int outFeatures, int threads)
    {
        if (rows == 0 || outFeatures == 0) return;
        // Blocks of an even number of output rows (the pair loop) of at least 64, so tiny layers stay on one thread.
        int parts = Math.Clamp(Math.Min(threads, outFeatures / 64), 1, threads);
        if (parts == 1)
        {
            Block(x, rows, w, bias, y, inFeatures, outFeatures, 0, outFeatures);
            return;
        }
        int per = ((outFeatures + parts - 1) / parts + 1) & ~1;
        nint px = (nint)x, pw = (nint)w, pb = (nint)bias, py = (nint)y; // raw pointers cannot be captured by a lambda
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
        {
            int from = part * per, to = Math.Min(outFeatures, from + per);
            if (from < to) Block((float*)px, rows, (float*)pw, (float*)pb, (float*)py, inFeatures, outFeatures, from, to);
        });
    }

    private static void Block(float* x, int rows, float* w, float* bias, float* y, int inF, int outF, int from, int to)
    {
        int o = from;
        if (rows == 1)
        {
            // One row (batch-1 decode): four weight rows per pass against the one x row, no repeated work.
            for (; o + 3 < to; o += 4) Quad(x, w + (long)o * inF, inF, bias is null ? null : bias + o, y + o);
        }
        for (; o + 1 < to; o += 2)
        {
            for (int t = 0; t < rows; t += 4)
                Pair(x, Math.Min(4, rows - t), t, w + (long)o * inF, w + (long)(o + 1) * inF, bias is null ? null : bias + o, y, inF, outF, o);
        }
        if (o < to)
        {
            // An odd last row: the pair loop with both weight pointers on it, the second result dropped.
            for (int t = 0; t < rows; t += 4)
                Pair(x, Math.Min(4, rows - t), t, w + (long)o * inF, null, bias is null ? null : bias + o, y, inF, outF, o);
        }
    }

    /// <summary>y[o..o+4] for one row x: four dot products of length <paramref name="inF"/>, x loaded once per chunk.</summary>
    private static void Quad(float* x, float* w, int inF, float* bias, float* y)
    {
        float* w1 = w + inF, w2 = w1 + inF, w3 = w2 + inF;
        var a0 = Vector256<float>.Zero; var a1 = Vector256<float>.Zero; var a2 = Vector256<float>.Zero; var a3 = Vector256<float>.Zero;
        int i = 0;
        for (; i <= inF - 8; i += 8)
        {
            var v = Vector256.Load(x + i);
            a0 = Vector256.FusedMultiplyAdd(Vector256.Load(w + i), v, a0);
            a1 = Vector256.FusedMultiplyAdd(Vector256.Load(w1 + i), v, a1);
            a2 = Vector256.FusedMultiplyAdd(Vector256.Load(w2 + i), v, a2);
            a3 = Vector256.FusedMultiplyAdd(Vector256.Load(w3 + i), v, a3);
        }
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        for (; i < inF; i++)
        {
            s0 += w[i] * x[i]; s1 += w1[i] * x[i]; s2 += w2[i] * x[i]; s3 += w3[i] * x[i];
        }
        y[0] = s0 + (bias is null ? 0 : bias[0]);
        y[1] = s1 + (bias is null ? 0 : bias[1]);
        y[2] = s2 + (bias is null ? 0 : bias[2]);
        y[3] = s3 + (bias is null ? 0 : bias[3]);
    }

    /// <summary>
    /// y[t..t+n, o] and y[t..t+n, o+1] for n ≤ 4 rows of x starting at row t (rows past n repeat row t and are not
    /// stored); <paramref name="w1"/> null: only column o.
    /// </summary>
    private static void Pair(float* x, int n, int t, float* w0, float* w1, float* bias, float* y, int inF, int outF, int o)
    {
        float* x0 = x + (long)t * inF;
        float* x1 = n > 1 ? x0 + inF : x0;
        float* x2 = n > 2 ? x0 + 2L * inF : x0;
        float* x3 = n > 3 ? x0 + 3L * inF : x0;
        float* wb = w1 == null ? w0 : w1;
        var a00 = Vector256<float>.Zero; var a01 = Vector256<float>.Zero; var a02 = Vector256<float>.Zero; var a03 = Vector256<float>.Zero;
        var a10 = Vector256<float>.Zero; var a11 = Vector256<float>.Zero; var a12 = Vector256<float>.Zero; var a13 = Vector256<float>.Zero;
        int i = 0;
        for (; i <= inF - 8; i += 8)
        {
            var v0 = Vector256.Load(w0 + i);
            var v1 = Vector256.Load(wb + i);
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
            float u0 = w0[i], u1 = wb[i];
            s00 += u0 * x0[i]; s01 += u0 * x1[i]; s02 += u0 * x2[i]; s03 += u0 * x3[i];
            s10 += u1 * x0[i]; s11 += u1 * x1[i]; s12 += u1 * x2[i]; s13 += u1 * x3[i];
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
}
