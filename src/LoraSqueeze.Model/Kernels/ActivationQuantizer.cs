using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// A decode step's activation rows quantised to int8 in blocks of <see cref="Block"/> with one float32 scale per block:
/// llama.cpp's Q8_0 (<c>quantize_row_q8_0</c> in ggml-quants.c: d = max|x| / 127 over the block, q = round(x / d)),
/// the form its Q8_0 matmuls quantise activations into before the int8 dot products. Blocks of 32, not one scale per
/// row, so one outlier feature (LLM activations have a few) costs precision in its own block only. Hand-written: a
/// few thousand floats per call, between two of our own kernels, where a libtorch op would cost more than the work.
/// </summary>
public static unsafe class ActivationQuantizer
{
    /// <summary>Elements per scale (ggml's QK8_0).</summary>
    public const int Block = 32;

    /// <summary>
    /// x: [rows, n] float32 → q: [rows, n] int8 in [−127, 127] and scales: [rows, n / 32] float32 (an all-zero block keeps
    /// scale 0); n must be a multiple of 32. Rounds to nearest (ties to even, the vector conversion's mode).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // hot loops: fully optimised from the first call, not tier-0 code in the first requests (tiered JIT)
    public static void Quantize(float* x, int rows, int n, sbyte* q, float* scales)
    {
        if (n % Block != 0) throw new ArgumentException($"row length {n} is not a multiple of {Block}", nameof(n));
        int blocks = n / Block;
        var signMask = Vector256.Create(0x7FFFFFFF).AsSingle();
        for (long b = 0; b < (long)rows * blocks; b++)
        {
            float* xb = x + b * Block;
            var v0 = Vector256.Load(xb); var v1 = Vector256.Load(xb + 8); var v2 = Vector256.Load(xb + 16); var v3 = Vector256.Load(xb + 24);
            var m = Vector256.Max(Vector256.Max(v0 & signMask, v1 & signMask), Vector256.Max(v2 & signMask, v3 & signMask));
            var h = Vector128.Max(m.GetLower(), m.GetUpper());
            h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(2, 3, 0, 1)));
            h = Vector128.Max(h, Vector128.Shuffle(h, Vector128.Create(1, 0, 3, 2)));
            float amax = h.ToScalar();
            float d = amax / 127f;
            scales[b] = d;
            var id = Vector256.Create(d == 0 ? 0f : 1f / d);
            sbyte* qb = q + b * Block;
            Store8(qb, v0 * id);
            Store8(qb + 8, v1 * id);
            Store8(qb + 16, v2 * id);
            Store8(qb + 24, v3 * id);
        }
    }

    /// <summary>Eight scaled values (|v| ≤ 127 by construction) rounded and narrowed to int8.</summary>
    private static void Store8(sbyte* dst, Vector256<float> v)
    {
        var r = Vector256.ConvertToInt32(Vector256.Round(v));   // round half to even, as _mm256_round_ps does in ggml's AVX2 path
        for (int i = 0; i < 8; i++) dst[i] = (sbyte)r[i];
    }
}
