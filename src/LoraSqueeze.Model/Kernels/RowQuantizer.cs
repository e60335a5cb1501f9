using static TorchSharp.torch;

namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// Symmetric per-row int8, the one scheme of the int8 adapter slots and the int8 base weights: scale = max|row| / 127,
/// q = round(row / scale) in [−127, 127] (an all-zero row keeps scale 0); each element's error is at most scale / 2.
/// The same idea as llama.cpp's Q8_0 with one scale per row instead of one per 32 weights.
/// </summary>
public static class RowQuantizer
{
    /// <summary>Quantises <paramref name="rows"/> [r, n] into <paramref name="q"/> (int8 [r, n]) and <paramref name="scale"/> (float32 [r]).</summary>
    public static void QuantizeInt8(Tensor rows, Tensor q, Tensor scale)
    {
        using var scope = NewDisposeScope();
        var f = rows.to_type(ScalarType.Float32);                              // [r, n]
        var s = f.abs().amax([1]).div(127.0);                                  // [r]
        var safe = s.where(s.gt(0), ones_like(s));                             // no division by zero
        q.copy_(f.div(safe.unsqueeze(1)).round().clamp(-127, 127));           // [r, n] → int8 on copy
        scale.copy_(s);
    }
}
