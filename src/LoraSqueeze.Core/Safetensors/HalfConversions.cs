using System.Buffers.Binary;

namespace LoraSqueeze.Core.Safetensors;

/// <summary>Conversions between the 16-bit float formats and float32 on managed buffers.</summary>
public static class HalfConversions
{
    /// <summary>Converts little-endian F16, BF16, F32 or F64 bytes to float32.</summary>
    public static float[] ToFloat32(ReadOnlySpan<byte> bytes, SafetensorsDType dtype)
    {
        int size = dtype.ElementSize();
        var result = new float[bytes.Length / size];
        for (int i = 0; i < result.Length; i++)
        {
            var s = bytes.Slice(i * size, size);
            result[i] = dtype switch
            {
                SafetensorsDType.F32 => BinaryPrimitives.ReadSingleLittleEndian(s),
                SafetensorsDType.F64 => (float)BinaryPrimitives.ReadDoubleLittleEndian(s),
                SafetensorsDType.F16 => (float)BinaryPrimitives.ReadHalfLittleEndian(s),
                // bfloat16 is the top half of an IEEE float32.
                SafetensorsDType.BF16 => BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(s) << 16),
                _ => throw new ArgumentOutOfRangeException(nameof(dtype), dtype, "not a floating-point dtype"),
            };
        }
        return result;
    }
}
