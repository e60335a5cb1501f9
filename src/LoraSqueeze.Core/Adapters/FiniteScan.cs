using System.Numerics;
using System.Runtime.InteropServices;
using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// Is every value of a float32 CPU tensor finite? One vectorised pass over its memory, no allocation: a float32 is NaN
/// or ±Inf exactly when its 8 exponent bits are all ones (IEEE 754-2008 §3.4). <c>torch.isfinite(t).all()</c> answers
/// the same but writes a bool tensor as large as the input, and on the benchmark adapter took longer than reading the
/// file (docs/benchmarks/squeeze.md).
/// </summary>
internal static class FiniteScan
{
    private const uint ExponentMask = 0x7F80_0000;

    /// <summary>Largest piece scanned through one span (Tensor.bytes is int-indexed).</summary>
    private const long ChunkElements = 1L << 28;

    /// <summary>True when all values are finite; null when the tensor is not a contiguous float32 CPU tensor.</summary>
    public static bool? AllFinite(torch.Tensor t)
    {
        if (t.dtype != torch.ScalarType.Float32 || t.device_type != DeviceType.CPU || !t.is_contiguous()) return null;
        long n = t.numel();
        if (n == 0) return true;
        using var flat = t.view(-1); // [numel], shares storage
        for (long start = 0; start < n; start += ChunkElements)
        {
            using var piece = flat.narrow(0, start, Math.Min(ChunkElements, n - start));
            if (!AllFinite(MemoryMarshal.Cast<byte, uint>(piece.bytes))) return false;
        }
        return true;
    }

    private static bool AllFinite(ReadOnlySpan<uint> bits)
    {
        var mask = new Vector<uint>(ExponentMask);
        var vectors = MemoryMarshal.Cast<uint, Vector<uint>>(bits);
        foreach (var v in vectors)
        {
            if (Vector.EqualsAny(v & mask, mask)) return false;
        }
        for (int i = vectors.Length * Vector<uint>.Count; i < bits.Length; i++)
        {
            if ((bits[i] & ExponentMask) == ExponentMask) return false;
        }
        return true;
    }
}
