using static TorchSharp.torch;

namespace LoraSqueeze.Model.Lora;

/// <summary>
/// The device slot storage types, named once: what <c>serve --slot-dtype</c> and <c>plan --dtype</c> accept and what
/// a slot of each costs. int8 slots keep one float32 scale per row of A and of B (symmetric per-row quantisation).
/// </summary>
public static class SlotDTypes
{
    public const string Names = "float32, bfloat16 or int8";

    /// <summary>The torch type of a slot dtype name; <paramref name="setting"/> names the option in the error.</summary>
    public static ScalarType Parse(string text, string setting) => text.ToLowerInvariant() switch
    {
        "float32" or "fp32" or "f32" => ScalarType.Float32,
        "bfloat16" or "bf16" => ScalarType.BFloat16,
        "int8" => ScalarType.Int8,
        _ => throw new ArgumentException($"{setting} must be {Names} (got '{text}')"),
    };

    /// <summary>Bytes of one stored factor element.</summary>
    public static int ElementBytes(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => 4,
        ScalarType.BFloat16 => 2,
        ScalarType.Int8 => 1,
        _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, $"slot dtypes are {Names}"),
    };

    /// <summary>Bytes of one module's scales at <paramref name="rank"/> (int8: one float32 per row of A and of B).</summary>
    public static long ScaleBytesPerModule(ScalarType dtype, int rank) => dtype == ScalarType.Int8 ? 2L * rank * sizeof(float) : 0;
}
