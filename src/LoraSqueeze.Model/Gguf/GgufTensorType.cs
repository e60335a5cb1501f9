namespace LoraSqueeze.Model.Gguf;

/// <summary>
/// The ggml tensor types a GGUF export writes (ggml.h <c>enum ggml_type</c> values) and, for the file header, the
/// matching <c>llama_ftype</c> (llama.h: ALL_F32 = 0, MOSTLY_F16 = 1, MOSTLY_Q8_0 = 7).
/// </summary>
public enum GgufTensorType
{
    /// <summary>float32 (ggml type 0).</summary>
    F32 = 0,

    /// <summary>IEEE half (ggml type 1).</summary>
    F16 = 1,

    /// <summary>Q8_0 (ggml type 8): blocks of 32 weights, one fp16 scale d = max|x|/127 and 32 int8 (34 bytes).</summary>
    Q8_0 = 8,
}

/// <summary>Sizes and names of <see cref="GgufTensorType"/>.</summary>
public static class GgufTensorTypes
{
    /// <summary>Weights per Q8_0 block (ggml-common.h QK8_0).</summary>
    public const int Q8Block = 32;

    /// <summary>Bytes of one Q8_0 block: fp16 d + 32 int8.</summary>
    public const int Q8BlockBytes = 2 + Q8Block;

    /// <summary>Bytes of a row of <paramref name="columns"/> weights stored as <paramref name="type"/>.</summary>
    public static long RowBytes(GgufTensorType type, long columns) => type switch
    {
        GgufTensorType.F32 => columns * 4,
        GgufTensorType.F16 => columns * 2,
        GgufTensorType.Q8_0 => columns / Q8Block * Q8BlockBytes,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>llama_ftype for a file whose matrices are <paramref name="type"/> (general.file_type).</summary>
    public static uint FileType(GgufTensorType type) => type switch
    {
        GgufTensorType.F32 => 0,
        GgufTensorType.F16 => 1,
        GgufTensorType.Q8_0 => 7,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>Parses f32 | f16 | q8_0 (the names llama.cpp's tools use).</summary>
    public static GgufTensorType Parse(string text) => text.ToLowerInvariant() switch
    {
        "f32" or "float32" => GgufTensorType.F32,
        "f16" or "float16" => GgufTensorType.F16,
        "q8_0" or "q8" => GgufTensorType.Q8_0,
        _ => throw new ArgumentException($"GGUF type '{text}' is not one of f32, f16, q8_0"),
    };
}
