using System.Text;

namespace LoraSqueeze.Testing;

/// <summary>One tensor's entry in a GGUF file: name, ne (innermost first), ggml type and offset in the data section.</summary>
public sealed record GgufTensorEntry(string Name, long[] Ne, uint Type, long Offset);

/// <summary>
/// Reads a GGUF v3 file's metadata and tensor table, and a tensor's raw bytes (ggml's docs/gguf.md): how tests check
/// the exporter's files and compare them with files llama.cpp itself writes. Values: strings, integers, floats, bools,
/// and arrays of them (as object[]).
/// </summary>
public sealed class GgufReader
{
    private readonly string _path;

    public GgufReader(string path)
    {
        _path = path;
        using var f = File.OpenRead(path);
        using var r = new BinaryReader(f, Encoding.UTF8);
        if (r.ReadUInt32() != 0x46554747) throw new InvalidDataException($"{path}: not a GGUF file");
        Version = r.ReadUInt32();
        long tensors = (long)r.ReadUInt64(), kvs = (long)r.ReadUInt64();
        for (long i = 0; i < kvs; i++)
        {
            var key = ReadString(r);
            Metadata[key] = ReadValue(r, r.ReadUInt32());
        }
        for (long i = 0; i < tensors; i++)
        {
            var name = ReadString(r);
            var ne = new long[r.ReadUInt32()];
            for (int d = 0; d < ne.Length; d++) ne[d] = (long)r.ReadUInt64();
            Tensors.Add(new GgufTensorEntry(name, ne, r.ReadUInt32(), (long)r.ReadUInt64()));
        }
        int alignment = Metadata.TryGetValue("general.alignment", out var a) ? Convert.ToInt32(a, System.Globalization.CultureInfo.InvariantCulture) : 32;
        DataStart = (f.Position + alignment - 1) / alignment * alignment;
        Alignment = alignment;
    }

    public uint Version { get; }
    public Dictionary<string, object> Metadata { get; } = new(StringComparer.Ordinal);
    public List<GgufTensorEntry> Tensors { get; } = [];
    public long DataStart { get; }
    public int Alignment { get; }

    public GgufTensorEntry Tensor(string name) => Tensors.SingleOrDefault(t => t.Name == name) ?? throw new KeyNotFoundException($"{_path}: no tensor {name}");

    /// <summary>The raw bytes of a tensor of <paramref name="byteCount"/> bytes.</summary>
    public byte[] ReadBytes(GgufTensorEntry t, long byteCount)
    {
        using var f = File.OpenRead(_path);
        f.Position = DataStart + t.Offset;
        var buffer = new byte[byteCount];
        f.ReadExactly(buffer);
        return buffer;
    }

    /// <summary>A float32 tensor's values.</summary>
    public float[] ReadF32(string name)
    {
        var t = Tensor(name);
        if (t.Type != 0) throw new InvalidDataException($"{name} is ggml type {t.Type}, not F32");
        long n = t.Ne.Aggregate(1L, (x, y) => x * y);
        var bytes = ReadBytes(t, n * 4);
        var values = new float[n];
        Buffer.BlockCopy(bytes, 0, values, 0, bytes.Length);
        return values;
    }

    private static string ReadString(BinaryReader r) => Encoding.UTF8.GetString(r.ReadBytes((int)r.ReadUInt64()));

    private static object ReadValue(BinaryReader r, uint type) => type switch
    {
        0 => r.ReadByte(),
        1 => r.ReadSByte(),
        2 => r.ReadUInt16(),
        3 => r.ReadInt16(),
        4 => r.ReadUInt32(),
        5 => r.ReadInt32(),
        6 => r.ReadSingle(),
        7 => r.ReadBoolean(),
        8 => ReadString(r),
        9 => ReadArray(r),
        10 => r.ReadUInt64(),
        11 => r.ReadInt64(),
        12 => r.ReadDouble(),
        _ => throw new InvalidDataException($"unknown GGUF value type {type}"),
    };

    private static object[] ReadArray(BinaryReader r)
    {
        uint type = r.ReadUInt32();
        var values = new object[(long)r.ReadUInt64()];
        for (long i = 0; i < values.Length; i++) values[i] = ReadValue(r, type);
        return values;
    }
}
