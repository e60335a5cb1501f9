namespace LoraSqueeze.Model.Sampling;

/// <summary>
/// A tiny, fully specified 64-bit generator (Steele, Lea &amp; Flood, "Fast splittable pseudorandom number generators",
/// 2014). One instance per sequence, so a seeded request draws the same numbers whatever else shares its batch, on any
/// platform and .NET version.
/// </summary>
public sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    public ulong NextUInt64()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));
}
