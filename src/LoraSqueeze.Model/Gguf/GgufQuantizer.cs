namespace LoraSqueeze.Model.Gguf;

/// <summary>
/// Row encoders for the GGUF tensor types, bit for bit as ggml writes them: Q8_0 follows ggml-quants.c
/// <c>quantize_row_q8_0_ref</c> (d = amax/127 rounded to fp16, q = roundf(x·(1/d)), half away from zero), fp16 is
/// round-to-nearest-even (<c>GGML_FP32_TO_FP16</c>). Hand-written: no library here writes ggml's block formats.
/// </summary>
public static class GgufQuantizer
{
    /// <summary>Encodes <paramref name="row"/> into <paramref name="output"/> (<see cref="GgufTensorTypes.RowBytes"/> bytes).</summary>
    public static void Encode(GgufTensorType type, ReadOnlySpan<float> row, Span<byte> output)
    {
        switch (type)
        {
            case GgufTensorType.F32:
                System.Runtime.InteropServices.MemoryMarshal.AsBytes(row).CopyTo(output);
                break;
            case GgufTensorType.F16:
                for (int i = 0; i < row.Length; i++)
                    BitConverter.TryWriteBytes(output.Slice(2 * i, 2), BitConverter.HalfToUInt16Bits((Half)row[i]));
                break;
            case GgufTensorType.Q8_0:
                QuantizeQ8_0(row, output);
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(type), type, null);
        }
    }

    /// <summary>quantize_row_q8_0_ref: per block of 32, d = max|x| / 127, q = round(x / d), stored as (fp16 d, int8 q[32]).</summary>
    public static void QuantizeQ8_0(ReadOnlySpan<float> row, Span<byte> output)
    {
        if (row.Length % GgufTensorTypes.Q8Block != 0)
            throw new ArgumentException($"Q8_0 needs rows of a multiple of {GgufTensorTypes.Q8Block} weights, got {row.Length}");
        int blocks = row.Length / GgufTensorTypes.Q8Block;
        for (int b = 0; b < blocks; b++)
        {
            var x = row.Slice(b * GgufTensorTypes.Q8Block, GgufTensorTypes.Q8Block);
            var o = output.Slice(b * GgufTensorTypes.Q8BlockBytes, GgufTensorTypes.Q8BlockBytes);
            float amax = 0;
            foreach (var v in x) amax = MathF.Max(amax, MathF.Abs(v));
            float d = amax / 127f;
            float id = d != 0 ? 1f / d : 0f;
            BitConverter.TryWriteBytes(o[..2], BitConverter.HalfToUInt16Bits((Half)d));
            for (int j = 0; j < GgufTensorTypes.Q8Block; j++)
                o[2 + j] = unchecked((byte)(sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero));
        }
    }

    /// <summary>Decodes one Q8_0 row (dequantize_row_q8_0: x = d·q): for tests and accuracy checks.</summary>
    public static void DequantizeQ8_0(ReadOnlySpan<byte> input, Span<float> row)
    {
        int blocks = row.Length / GgufTensorTypes.Q8Block;
        for (int b = 0; b < blocks; b++)
        {
            var i = input.Slice(b * GgufTensorTypes.Q8BlockBytes, GgufTensorTypes.Q8BlockBytes);
            float d = (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(i[..2]));
            for (int j = 0; j < GgufTensorTypes.Q8Block; j++) row[b * GgufTensorTypes.Q8Block + j] = d * (sbyte)i[2 + j];
        }
    }
}
