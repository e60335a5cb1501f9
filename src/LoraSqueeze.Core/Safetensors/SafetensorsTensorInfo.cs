namespace LoraSqueeze.Core.Safetensors;

/// <summary>One tensor's header entry: name, dtype, shape and byte range relative to the start of the data section.</summary>
public sealed record SafetensorsTensorInfo(string Name, SafetensorsDType DType, long[] Shape, long Begin, long End)
{
    /// <summary>Number of elements (1 for a scalar of shape []).</summary>
    public long ElementCount
    {
        get
        {
            long n = 1;
            foreach (var d in Shape) n *= d;
            return n;
        }
    }

    /// <summary>Length of the tensor's data in bytes.</summary>
    public long ByteLength => End - Begin;

    /// <summary>Shape as text, e.g. "[4096, 16]".</summary>
    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
