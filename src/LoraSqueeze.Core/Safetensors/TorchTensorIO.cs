using TorchSharp;
using static TorchSharp.torch;

namespace LoraSqueeze.Core.Safetensors;

/// <summary>Moves safetensors bytes in and out of TorchSharp tensors without managed intermediate copies.</summary>
internal static class TorchTensorIO
{
    /// <summary>Largest piece filled through one span (Tensor.bytes is int-indexed). Tests lower it to exercise chunking.</summary>
    internal static long ChunkBytes { get; set; } = 256L << 20;

    /// <summary>The torch type that holds a dtype's raw bytes (unsigned types use the signed type of the same width).</summary>
    public static ScalarType StorageType(SafetensorsDType dtype, string path, string name) => dtype switch
    {
        SafetensorsDType.BOOL => ScalarType.Bool,
        SafetensorsDType.U8 => ScalarType.Byte,
        SafetensorsDType.I8 => ScalarType.Int8,
        SafetensorsDType.I16 or SafetensorsDType.U16 => ScalarType.Int16,
        SafetensorsDType.I32 or SafetensorsDType.U32 => ScalarType.Int32,
        SafetensorsDType.I64 or SafetensorsDType.U64 => ScalarType.Int64,
        SafetensorsDType.F16 => ScalarType.Float16,
        SafetensorsDType.BF16 => ScalarType.BFloat16,
        SafetensorsDType.F32 => ScalarType.Float32,
        SafetensorsDType.F64 => ScalarType.Float64,
        _ => throw new SafetensorsFormatException(path, name, $"dtype {dtype} has no TorchSharp tensor type; read its raw bytes instead"),
    };

    /// <summary>The safetensors dtype for a torch type.</summary>
    public static SafetensorsDType FromScalarType(ScalarType type) => type switch
    {
        ScalarType.Bool => SafetensorsDType.BOOL,
        ScalarType.Byte => SafetensorsDType.U8,
        ScalarType.Int8 => SafetensorsDType.I8,
        ScalarType.Int16 => SafetensorsDType.I16,
        ScalarType.Int32 => SafetensorsDType.I32,
        ScalarType.Int64 => SafetensorsDType.I64,
        ScalarType.Float16 => SafetensorsDType.F16,
        ScalarType.BFloat16 => SafetensorsDType.BF16,
        ScalarType.Float32 => SafetensorsDType.F32,
        ScalarType.Float64 => SafetensorsDType.F64,
        _ => throw new NotSupportedException($"torch type {type} cannot be stored in safetensors by this writer"),
    };

    public static Tensor Empty(SafetensorsTensorInfo info, string path) =>
        torch.empty(info.Shape, StorageType(info.DType, path, info.Name), device: CPU);

    /// <summary>Fills a contiguous CPU tensor from a byte source, in chunks of at most <see cref="ChunkBytes"/>.</summary>
    public static void Fill(Tensor tensor, SafetensorsTensorInfo info, SpanReader read)
    {
        long total = info.ByteLength;
        if (total == 0) return;
        if (total <= ChunkBytes)
        {
            read(tensor.bytes, 0);
            return;
        }
        int elem = info.DType.ElementSize();
        long chunkElems = Math.Max(1, ChunkBytes / elem);
        using var flat = tensor.view(-1); // [numel], shares storage
        for (long start = 0; start < info.ElementCount; start += chunkElems)
        {
            long n = Math.Min(chunkElems, info.ElementCount - start);
            using var piece = flat.narrow(0, start, n);
            read(piece.bytes, start * elem);
        }
    }

    /// <summary>Unsigned types are widened to the next signed torch type (U16→I32, U32→I64); U64 must fit in I64.</summary>
    public static Tensor WidenUnsigned(Tensor raw, SafetensorsTensorInfo info, string path)
    {
        switch (info.DType)
        {
            case SafetensorsDType.U16:
                using (var wide = raw.to_type(ScalarType.Int32))
                    return wide.bitwise_and(0xFFFF);
            case SafetensorsDType.U32:
                using (var wide = raw.to_type(ScalarType.Int64))
                    return wide.bitwise_and(0xFFFFFFFFL);
            case SafetensorsDType.U64:
                using (var neg = raw.lt(0L))
                {
                    if (neg.any().ToBoolean())
                        throw new SafetensorsFormatException(path, info.Name, "U64 value above the int64 range");
                }
                return raw;
            default:
                return raw;
        }
    }

    /// <summary>Callback that fills <c>span</c> from byte offset <c>offset</c> of the tensor's data.</summary>
    public delegate void SpanReader(Span<byte> span, long offset);
}
