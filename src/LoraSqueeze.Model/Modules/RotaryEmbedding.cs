using LoraSqueeze.Model.Config;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Modules;

/// <summary>
/// Rotary position embedding with precomputed cos/sin tables (HF <c>LlamaRotaryEmbedding</c> + <c>apply_rotary_pos_emb</c>,
/// "rotate half" convention), including Llama-3 frequency scaling (<c>_compute_llama3_parameters</c> in
/// transformers' modeling_rope_utils.py). Tables grow on demand, on the engine thread.
/// </summary>
public sealed class RotaryEmbedding : IDisposable
{
    private readonly double[] _invFreq;
    private readonly ScalarType _dtype;
    private readonly Device _device;
    private Tensor? _cos;   // [length, head_dim]
    private Tensor? _sin;   // [length, head_dim]

    public RotaryEmbedding(ModelConfig config, ScalarType dtype, Device device)
    {
        _invFreq = InverseFrequencies(config);
        _dtype = dtype;
        _device = device;
    }

    /// <summary>Positions the tables cover now.</summary>
    public int Length { get; private set; }

    /// <summary>inv_freq[i] = θ^(−2i/d), then Llama-3 scaling when configured. Length head_dim/2.</summary>
    public static double[] InverseFrequencies(ModelConfig config)
    {
        int dim = config.HeadDim;
        var inv = new double[dim / 2];
        for (int i = 0; i < inv.Length; i++) inv[i] = 1.0 / Math.Pow(config.RopeTheta, 2.0 * i / dim);
        if (config.RopeScaling is { Kind: "llama3" } s)
        {
            double lowWavelen = s.OriginalMaxPositionEmbeddings / s.LowFreqFactor;
            double highWavelen = s.OriginalMaxPositionEmbeddings / s.HighFreqFactor;
            for (int i = 0; i < inv.Length; i++)
            {
                double wavelen = 2 * Math.PI / inv[i];
                if (wavelen > lowWavelen) inv[i] /= s.Factor;          // low frequencies: fully scaled
                else if (wavelen >= highWavelen)                        // medium: interpolate
                {
                    double smooth = (s.OriginalMaxPositionEmbeddings / wavelen - s.LowFreqFactor) / (s.HighFreqFactor - s.LowFreqFactor);
                    inv[i] = (1 - smooth) * inv[i] / s.Factor + smooth * inv[i];
                }
                // high frequencies (wavelen < highWavelen) stay unchanged
            }
        }
        return inv;
    }

    /// <summary>cos and sin rows for the given positions: positions [T] → ([T, head_dim], [T, head_dim]).</summary>
    public (Tensor Cos, Tensor Sin) Lookup(Tensor positions, int maxPosition)
    {
        EnsureLength(maxPosition + 1);
        return (_cos!.index_select(0, positions), _sin!.index_select(0, positions));
    }

    /// <summary>Rotates q or k. x: [T, heads, head_dim]; cos/sin: [T, head_dim].</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        long half = x.shape[^1] / 2;
        var x1 = x.narrow(-1, 0, half);                        // [T, h, d/2]
        var x2 = x.narrow(-1, half, half);                     // [T, h, d/2]
        var rotated = cat([-x2, x1], -1);                      // [T, h, d]
        return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1); // cos/sin [T, 1, d] broadcast over heads
    }

    private void EnsureLength(int needed)
    {
        if (needed <= Length) return;
        int length = Math.Max(needed, Math.Max(256, Length * 2));
        int half = _invFreq.Length, dim = half * 2;
        var cos = new float[length * dim];
        var sin = new float[length * dim];
        for (int p = 0; p < length; p++)
        {
            for (int i = 0; i < half; i++)
            {
                double angle = p * _invFreq[i];   // HF: freqs = outer(t, inv_freq); emb = cat(freqs, freqs)
                float c = (float)Math.Cos(angle), s = (float)Math.Sin(angle);
                cos[p * dim + i] = c; cos[p * dim + half + i] = c;
                sin[p * dim + i] = s; sin[p * dim + half + i] = s;
            }
        }
        _cos?.Dispose();
        _sin?.Dispose();
        _cos = tensor(cos, [length, dim]).to(_dtype, _device).DetachFromDisposeScope();
        _sin = tensor(sin, [length, dim]).to(_dtype, _device).DetachFromDisposeScope();
        Length = length;
    }

    public void Dispose()
    {
        _cos?.Dispose();
        _sin?.Dispose();
    }
}
