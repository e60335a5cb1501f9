using System.Text;

namespace LoraSqueeze.Model.Gguf;

/// <summary>
/// Writes a GGUF v3 file (ggml's docs/gguf.md): header, metadata key/values, tensor infos, then the tensor data, each
/// tensor aligned to <see cref="Alignment"/> bytes. Tensors are encoded row by row while the file is written, so a
/// model larger than memory can be exported. Hand-written: no library here writes GGUF.
/// </summary>
public sealed class GgufWriter
{
    /// <summary>"GGUF" little-endian.</summary>
    public const uint Magic = 0x46554747;

    /// <summary>GGUF version 3 (what llama.cpp writes and reads).</summary>
    public const uint Version = 3;

    /// <summary>general.alignment's default.</summary>
    public const int Alignment = 32;

    /// <summary>GGUF metadata value types (gguf.h <c>enum gguf_type</c>).</summary>
    private enum ValueType : uint { UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7, String = 8, Array = 9 }

    private readonly List<(string Key, byte[] Payload)> _metadata = [];
    private readonly List<Tensor> _tensors = [];

    /// <summary>
    /// One tensor to write: HF shape [rows, columns] (GGUF's ne is the reverse), its type, and a callback that fills
    /// row <c>i</c> (columns floats) when the data section is written.
    /// </summary>
    private sealed record Tensor(string Name, long Rows, long Columns, GgufTensorType Type, Action<long, Span<float>> ReadRow, bool Vector);

    public void Add(string key, string value) => _metadata.Add((key, Build(ValueType.String, w => WriteString(w, value))));
    public void Add(string key, uint value) => _metadata.Add((key, Build(ValueType.UInt32, w => w.Write(value))));
    public void Add(string key, float value) => _metadata.Add((key, Build(ValueType.Float32, w => w.Write(value))));
    public void Add(string key, bool value) => _metadata.Add((key, Build(ValueType.Bool, w => w.Write(value))));

    public void AddArray(string key, IReadOnlyList<string> values) => _metadata.Add((key, Build(ValueType.Array, w =>
    {
        w.Write((uint)ValueType.String);
        w.Write((ulong)values.Count);
        foreach (var v in values) WriteString(w, v);
    })));

    public void AddArray(string key, IReadOnlyList<int> values) => _metadata.Add((key, Build(ValueType.Array, w =>
    {
        w.Write((uint)ValueType.Int32);
        w.Write((ulong)values.Count);
        foreach (var v in values) w.Write(v);
    })));

    /// <summary>
    /// Adds a tensor of HF shape [rows, columns] (a vector: rows = 1, written with one dimension). Vectors are always
    /// float32, as llama.cpp's converter stores norms and biases.
    /// </summary>
    public void AddTensor(string name, long rows, long columns, GgufTensorType type, Action<long, Span<float>> readRow, bool vector = false)
    {
        if (vector) type = GgufTensorType.F32;
        if (type == GgufTensorType.Q8_0 && columns % GgufTensorTypes.Q8Block != 0)
            throw new ArgumentException($"{name}: Q8_0 needs a row length that is a multiple of {GgufTensorTypes.Q8Block}, the tensor has {columns} columns");
        _tensors.Add(new Tensor(name, rows, columns, type, readRow, vector));
    }

    /// <summary>Tensors added so far.</summary>
    public int TensorCount => _tensors.Count;

    /// <summary>Writes the file; <paramref name="progress"/> gets (tensors written, tensor count).</summary>
    public void Write(string path, IProgress<(int Done, int Total)>? progress = null)
    {
        var tmp = path + ".partial";
        using (var file = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        using (var w = new BinaryWriter(file, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Magic);
            w.Write(Version);
            w.Write((ulong)_tensors.Count);
            w.Write((ulong)_metadata.Count);
            foreach (var (key, payload) in _metadata)
            {
                WriteString(w, key);
                w.Write(payload);
            }
            long offset = 0;
            foreach (var t in _tensors)
            {
                WriteString(w, t.Name);
                if (t.Vector)
                {
                    w.Write(1u);
                    w.Write((ulong)t.Columns);                 // ne = [n]
                }
                else
                {
                    w.Write(2u);
                    w.Write((ulong)t.Columns);                 // ne[0] = columns (the contiguous dimension)
                    w.Write((ulong)t.Rows);                    // ne[1] = rows
                }
                w.Write((uint)t.Type);
                w.Write((ulong)offset);
                offset += Align(t.Rows * GgufTensorTypes.RowBytes(t.Type, t.Columns));
            }
            w.Flush();
            Pad(file);
            var row = new float[_tensors.Count == 0 ? 0 : _tensors.Max(t => t.Columns)];
            var encoded = new byte[row.Length * 4];
            for (int i = 0; i < _tensors.Count; i++)
            {
                var t = _tensors[i];
                long rowBytes = GgufTensorTypes.RowBytes(t.Type, t.Columns);
                for (long r = 0; r < t.Rows; r++)
                {
                    var span = row.AsSpan(0, (int)t.Columns);
                    t.ReadRow(r, span);
                    GgufQuantizer.Encode(t.Type, span, encoded.AsSpan(0, (int)rowBytes));
                    file.Write(encoded, 0, (int)rowBytes);
                }
                Pad(file);
                progress?.Report((i + 1, _tensors.Count));
            }
        }
        File.Move(tmp, path, overwrite: true);
    }

    private static long Align(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(Stream s)
    {
        int pad = (int)((Alignment - s.Position % Alignment) % Alignment);
        if (pad > 0) s.Write(new byte[pad]);
    }

    private static byte[] Build(ValueType type, Action<BinaryWriter> body)
    {
        using var ms = new MemoryStream();
        using (var w = new BinaryWriter(ms, Encoding.UTF8, leaveOpen: true))
        {
            w.Write((uint)type);
            body(w);
        }
        return ms.ToArray();
    }

    private static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }
}
