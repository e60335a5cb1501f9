using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// The small per-token operations of a decode step as single passes over float32 rows: RMSNorm (HF
/// <c>LlamaRMSNorm</c>: y = w ⊙ x / √(mean(x²) + ε), in float32), rotate-half RoPE applied in place (HF
/// <c>apply_rotary_pos_emb</c>: x·cos + rotate_half(x)·sin) or on the way into the KV cache, and SwiGLU's silu(gate) ⊙ up in place. Each replaces a
/// chain of 2–9 libtorch calls and their temporaries (a decode step made ~240 libtorch calls at ~10 µs each on h1024,
/// a quarter of a batch-1 step); the libtorch expressions stay in <see cref="Modules.RmsNorm"/>,
/// <see cref="Modules.RotaryEmbedding"/> and <see cref="Modules.Mlp"/> as the reference and for prefill, training and
/// other devices. Hand-written: these fusions are not in any library here.
/// </summary>
internal static unsafe class CpuElementwise
{
    /// <summary>x, y: [rows, n]; w: [n]. y may not alias x.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // hot loops: fully optimised from the first call, not tier-0 code in the first requests (tiered JIT)
    public static void RmsNorm(float* x, float* w, float* y, int rows, int n, float eps)
    {
        for (int r = 0; r < rows; r++)
        {
            float* xr = x + (long)r * n, yr = y + (long)r * n;
            var acc = Vector256<float>.Zero;
            int i = 0;
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.Load(xr + i);
                acc = Vector256.FusedMultiplyAdd(v, v, acc);
            }
            float ss = Vector256.Sum(acc);
            for (; i < n; i++) ss += xr[i] * xr[i];
            float inv = 1f / MathF.Sqrt(ss / n + eps);
            var vi = Vector256.Create(inv);
            i = 0;
            for (; i <= n - 8; i += 8) (Vector256.Load(w + i) * (Vector256.Load(xr + i) * vi)).Store(yr + i);
            for (; i < n; i++) yr[i] = w[i] * (xr[i] * inv);
        }
    }

    /// <summary>
    /// x: [tokens, heads, d] rotated in place; cos, sin: [tokens, d] (each token's position's row). Per head, with
    /// h = d/2: x[i] ← x[i]·cos[i] − x[i+h]·sin[i] and x[i+h] ← x[i+h]·cos[i+h] + x[i]·sin[i+h].
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RopeInPlace(float* x, int tokens, int heads, int d, float* cos, float* sin)
    {
        for (int t = 0; t < tokens; t++)
        {
            float* c = cos + (long)t * d, s = sin + (long)t * d;
            for (int h = 0; h < heads; h++)
            {
                float* a = x + ((long)t * heads + h) * d;
                RotateHead(a, a, c, s, d);
            }
        }
    }

    /// <summary>
    /// The cache write of a step in one pass with the keys' RoPE: token t's key heads k [tokens, heads, d] are rotated
    /// (as <see cref="RopeInPlace"/>) straight into the cache row <c>keys + index[t]·heads·d</c>, and its value heads
    /// v [tokens, heads, d] copied into <c>values + index[t]·heads·d</c> — what RoPE in place followed by two
    /// <c>index_copy_</c> calls into [rows·maxLen, heads, d] views does, without the calls or a second pass over k.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void RopeKeysIntoCache(float* k, float* v, int tokens, int heads, int d, float* cos, float* sin, float* keys, float* values, long* index)
    {
        long row = (long)heads * d;
        for (int t = 0; t < tokens; t++)
        {
            float* c = cos + (long)t * d, s = sin + (long)t * d;
            float* kd = keys + index[t] * row;
            for (int h = 0; h < heads; h++) RotateHead(k + t * row + (long)h * d, kd + (long)h * d, c, s, d);
            new ReadOnlySpan<float>(v + t * row, (int)row).CopyTo(new Span<float>(values + index[t] * row, (int)row));
        }
    }

    /// <summary>One head of d floats rotated from <paramref name="src"/> into <paramref name="dst"/> (the same pointer: in place; each pair is loaded before it is stored).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RotateHead(float* src, float* dst, float* c, float* s, int d)
    {
        int half = d / 2;
        float* a = src, b = src + half, da = dst, db = dst + half;
        int i = 0;
        for (; i <= half - 8; i += 8)
        {
            var x1 = Vector256.Load(a + i);
            var x2 = Vector256.Load(b + i);
            (x1 * Vector256.Load(c + i) - x2 * Vector256.Load(s + i)).Store(da + i);
            (x2 * Vector256.Load(c + half + i) + x1 * Vector256.Load(s + half + i)).Store(db + i);
        }
        for (; i < half; i++)
        {
            float x1 = a[i], x2 = b[i];
            da[i] = x1 * c[i] - x2 * s[i];
            db[i] = x2 * c[half + i] + x1 * s[half + i];
        }
    }

    /// <summary>gate ← silu(gate) ⊙ up over n floats (silu(g) = g / (1 + e^−g)).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SiluMulInPlace(float* gate, float* up, long n)
    {
        // Vector256.Exp (the BCL's vectorised expf, as libtorch's Sleef one): the scalar MathF.Exp loop was ~15 µs a
        // layer on h1024's 2816 features, serial on the engine thread between two GEMM regions.
        var one = Vector256.Create(1f);
        long i = 0;
        for (; i <= n - 8; i += 8)
        {
            var g = Vector256.Load(gate + i);
            (g / (one + Vector256.Exp(-g)) * Vector256.Load(up + i)).Store(gate + i);
        }
        for (; i < n; i++)
        {
            float g = gate[i];
            gate[i] = g / (1f + MathF.Exp(-g)) * up[i];
        }
    }
}
