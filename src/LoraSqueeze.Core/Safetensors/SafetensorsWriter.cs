using System.Buffers.Binary;
using System.Text.Json;
using TorchSharp;

namespace LoraSqueeze.Core.Safetensors;

/// <summary>A tensor given as raw little-endian bytes.</summary>
public sealed record RawTensor(string Name, SafetensorsDType DType, long[] Shape, ReadOnlyMemory<byte> Data);

/// <summary>
/// Writes safetensors files that transformers and PEFT accept: <c>{"format":"pt"}</c> metadata by default, a header
/// padded with spaces to a multiple of 8 bytes, contiguous data with no gaps, tensors ordered by element size
/// (largest first, then by name, as huggingface/safetensors' serializer does) so every tensor is aligned to its element
/// size. The file appears atomically: it is written under a temporary name and renamed.
/// </summary>
public static class SafetensorsWriter
{
    private static readonly Dictionary<string, string> DefaultMetadata = new() { ["format"] = "pt" };

    /// <summary>Writes torch tensors (any device; copied to CPU, made contiguous).</summary>
    public static void Write(string path, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var list = tensors.ToList();
        var entries = list.Select(kv => new Entry(kv.Key, TorchTensorIO.FromScalarType(kv.Value.dtype), kv.Value.shape,
            (stream) => WriteTensorBytes(stream, kv.Value))).ToList();
        WriteEntries(path, entries, metadata);
    }

    /// <summary>Writes tensors given as raw bytes.</summary>
    public static void WriteRaw(string path, IEnumerable<RawTensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var entries = new List<Entry>();
        foreach (var t in tensors)
        {
            long expected = t.DType.ElementSize();
            foreach (var d in t.Shape)
            {
                if (d < 0) throw new ArgumentException($"tensor '{t.Name}': negative dimension in shape");
                expected = checked(expected * d);
            }
            if (expected != t.Data.Length)
                throw new ArgumentException($"tensor '{t.Name}': {t.Data.Length} bytes given, shape × {t.DType} needs {expected}");
            entries.Add(new Entry(t.Name, t.DType, t.Shape, stream => stream.Write(t.Data.Span)));
        }
        WriteEntries(path, entries, metadata);
    }

    private sealed record Entry(string Name, SafetensorsDType DType, long[] Shape, Action<Stream> WriteData)
    {
        public long ByteLength => Shape.Aggregate((long)DType.ElementSize(), (a, d) => a * d);
    }

    private static void WriteEntries(string path, List<Entry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        var dup = entries.GroupBy(e => e.Name, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (dup is not null) throw new ArgumentException($"duplicate tensor name '{dup.Key}'");
        if (entries.Any(e => e.Name == "__metadata__")) throw new ArgumentException("'__metadata__' is reserved");

        var ordered = entries.OrderByDescending(e => e.DType.ElementSize()).ThenBy(e => e.Name, StringComparer.Ordinal).ToList();
        var header = BuildHeader(ordered, metadata ?? DefaultMetadata);

        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            using (var stream = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                Span<byte> len = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)header.Length);
                stream.Write(len);
                stream.Write(header);
                foreach (var e in ordered) e.WriteData(stream);
                stream.Flush(flushToDisk: false);
            }
            File.Move(tmp, path, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { }
            throw;
        }
    }

    private static byte[] BuildHeader(List<Entry> ordered, IReadOnlyDictionary<string, string> metadata)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var kv in metadata.OrderBy(k => k.Key, StringComparer.Ordinal)) w.WriteString(kv.Key, kv.Value);
                w.WriteEndObject();
            }
            long offset = 0;
            foreach (var e in ordered)
            {
                w.WriteStartObject(e.Name);
                w.WriteString("dtype", e.DType.ToHeaderName());
                w.WriteStartArray("shape");
                foreach (var d in e.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(offset);
                offset += e.ByteLength;
                w.WriteNumberValue(offset);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndObject();
        }
        // Pad with spaces so the data section starts 8-byte aligned (safetensors does the same).
        int pad = (int)((8 - (ms.Length % 8)) % 8);
        for (int i = 0; i < pad; i++) ms.WriteByte((byte)' ');
        return ms.ToArray();
    }

    private static void WriteTensorBytes(Stream stream, torch.Tensor tensor)
    {
        using var cpu = tensor.detach().cpu().contiguous();
        using var flat = cpu.view(-1); // [numel]
        long numel = flat.numel();
        if (numel == 0) return;
        long elem = cpu.ElementSize;
        long chunkElems = Math.Max(1, TorchTensorIO.ChunkBytes / elem);
        for (long start = 0; start < numel; start += chunkElems)
        {
            long n = Math.Min(chunkElems, numel - start);
            using var piece = flat.narrow(0, start, n);
            stream.Write(piece.bytes);
        }
    }
}
