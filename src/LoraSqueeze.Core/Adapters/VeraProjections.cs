using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// Regenerates VeRA's shared projections when <c>save_projection</c> was false, bit-exactly as PEFT does
/// (peft/tuners/vera/model.py <c>_init_vera_A_vera_B</c> and <c>_kaiming_init</c>): one CPU generator seeded with
/// <c>projection_prng_key</c>, then vera_A [r, max_in] and vera_B [max_out, r] each filled with
/// <c>uniform_(-bound, bound)</c>, bound = √3·√2/√fan_in, fan_in = shape[1], in that order. TorchSharp drives the
/// same libtorch MT19937 CPU generator, so the same calls give the same bits.
/// </summary>
public static class VeraProjections
{
    /// <summary>(vera_A [r, maxIn], vera_B [maxOut, r]) float32.</summary>
    public static (torch.Tensor A, torch.Tensor B) Generate(long seed, int r, long maxIn, long maxOut)
    {
        using var gen = new torch.Generator((ulong)seed);
        var a = KaimingUniform([r, maxIn], gen);
        var b = KaimingUniform([maxOut, r], gen);
        return (a, b);
    }

    private static torch.Tensor KaimingUniform(long[] shape, torch.Generator gen)
    {
        // Python: gain = math.sqrt(2); std = gain / math.sqrt(fan); bound = math.sqrt(3.0) * std (all in double).
        double fan = shape[1];
        double bound = Math.Sqrt(3.0) * (Math.Sqrt(2) / Math.Sqrt(fan));
        var t = torch.empty(shape, dtype: torch.ScalarType.Float32);
        t.uniform_(-bound, bound, gen); // in place: returns t itself
        return t;
    }
}
