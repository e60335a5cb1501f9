using System.Text.Json;

namespace LoraSqueeze.Core.Safetensors;

/// <summary>
/// Parses and validates a safetensors header. Format (huggingface/safetensors, docs "Format"):
/// 8 bytes little-endian u64 N, then N bytes of UTF-8 JSON
/// <c>{"__metadata__": {str: str}, name: {"dtype": D, "shape": [..], "data_offsets": [begin, end]}}</c>,
/// then the data section; offsets are relative to the start of the data section.
/// </summary>
public static class SafetensorsHeader
{
    /// <summary>The reference implementation refuses headers above 100 MB (safetensors/src/tensor.rs, MAX_HEADER_SIZE).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    /// <summary>
    /// Validates the header bytes against the data section length and returns the entries (in header order) and
    /// the metadata. Every failure is a <see cref="SafetensorsFormatException"/> naming <paramref name="path"/>.
    /// </summary>
    public static (List<SafetensorsTensorInfo> Tensors, Dictionary<string, string> Metadata) Parse(
        string path, ReadOnlySpan<byte> headerJson, long dataLength)
    {
        JsonDocument doc;
        try
        {
            var reader = new Utf8JsonReader(headerJson, new JsonReaderOptions { MaxDepth = 16 });
            doc = JsonDocument.ParseValue(ref reader);
        }
        catch (JsonException ex)
        {
            throw new SafetensorsFormatException(path, null, $"header is not valid JSON ({ex.Message})");
        }

        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException(path, null, $"header must be a JSON object, found {doc.RootElement.ValueKind}");

            var tensors = new List<SafetensorsTensorInfo>();
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var prop in doc.RootElement.EnumerateObject())
            {
                if (!seen.Add(prop.Name))
                    throw new SafetensorsFormatException(path, prop.Name, "duplicate name in header");
                if (prop.Name == "__metadata__")
                {
                    ParseMetadata(path, prop.Value, metadata);
                    continue;
                }
                tensors.Add(ParseEntry(path, prop.Name, prop.Value, dataLength));
            }
            CheckNoOverlap(path, tensors);
            CheckFullyIndexed(path, tensors, dataLength);
            return (tensors, metadata);
        }
    }

    private static void ParseMetadata(string path, JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(path, null, "__metadata__ must be an object of strings");
        foreach (var kv in value.EnumerateObject())
        {
            if (kv.Value.ValueKind != JsonValueKind.String)
                throw new SafetensorsFormatException(path, null, $"__metadata__ value for '{kv.Name}' must be a string");
            if (!metadata.TryAdd(kv.Name, kv.Value.GetString()!))
                throw new SafetensorsFormatException(path, null, $"__metadata__ has duplicate key '{kv.Name}'");
        }
    }

    private static SafetensorsTensorInfo ParseEntry(string path, string name, JsonElement entry, long dataLength)
    {
        if (entry.ValueKind != JsonValueKind.Object)
            throw new SafetensorsFormatException(path, name, "entry must be an object with dtype, shape and data_offsets");
        if (!entry.TryGetProperty("dtype", out var dtypeEl) || dtypeEl.ValueKind != JsonValueKind.String)
            throw new SafetensorsFormatException(path, name, "missing or non-string 'dtype'");
        var dtypeText = dtypeEl.GetString()!;
        if (!SafetensorsDTypes.TryParse(dtypeText, out var dtype))
            throw new SafetensorsFormatException(path, name, $"unknown dtype '{dtypeText}'");

        if (!entry.TryGetProperty("shape", out var shapeEl) || shapeEl.ValueKind != JsonValueKind.Array)
            throw new SafetensorsFormatException(path, name, "missing or non-array 'shape'");
        var shape = new long[shapeEl.GetArrayLength()];
        int i = 0;
        foreach (var d in shapeEl.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt64(out var dim) || dim < 0)
                throw new SafetensorsFormatException(path, name, $"shape dimension {i} is not a non-negative integer");
            shape[i++] = dim;
        }

        if (!entry.TryGetProperty("data_offsets", out var offEl) || offEl.ValueKind != JsonValueKind.Array || offEl.GetArrayLength() != 2)
            throw new SafetensorsFormatException(path, name, "missing 'data_offsets' or it is not [begin, end]");
        if (!offEl[0].TryGetInt64(out var begin) || !offEl[1].TryGetInt64(out var end) || begin < 0 || end < 0)
            throw new SafetensorsFormatException(path, name, "data_offsets must be non-negative integers");
        if (end < begin)
            throw new SafetensorsFormatException(path, name, $"data_offsets end {end} is before begin {begin}");
        if (end > dataLength)
            throw new SafetensorsFormatException(path, name, $"data_offsets [{begin}, {end}] out of range: the data section has {dataLength} bytes");

        long expected;
        try
        {
            expected = dtype.ElementSize();
            foreach (var d in shape) expected = checked(expected * d);
        }
        catch (OverflowException)
        {
            throw new SafetensorsFormatException(path, name, "shape × dtype size overflows 64 bits");
        }
        if (expected != end - begin)
            throw new SafetensorsFormatException(path, name,
                $"data_offsets span {end - begin} bytes but shape [{string.Join(", ", shape)}] × {dtype} needs {expected}");

        return new SafetensorsTensorInfo(name, dtype, shape, begin, end);
    }

    /// <summary>
    /// The safetensors format requires the byte buffer to be entirely indexed, with no holes (huggingface/safetensors,
    /// <c>Metadata::validate</c>): bytes no tensor claims are not data of this file, and a file padded with them can hide
    /// anything, or make a small adapter cost its whole size to read.
    /// </summary>
    private static void CheckFullyIndexed(string path, List<SafetensorsTensorInfo> tensors, long dataLength)
    {
        long at = 0;
        foreach (var t in tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.Begin))
        {
            if (t.Begin > at)
                throw new SafetensorsFormatException(path, t.Name, $"bytes [{at}, {t.Begin}) of the data belong to no tensor (a hole before this one)");
            at = t.End;
        }
        if (at < dataLength)
            throw new SafetensorsFormatException(path, null, $"{dataLength - at} trailing byte(s) after the last tensor belong to no tensor");
    }

    private static void CheckNoOverlap(string path, List<SafetensorsTensorInfo> tensors)
    {
        var sorted = tensors.Where(t => t.ByteLength > 0).OrderBy(t => t.Begin).ToList();
        for (int i = 1; i < sorted.Count; i++)
        {
            if (sorted[i].Begin < sorted[i - 1].End)
                throw new SafetensorsFormatException(path, sorted[i].Name,
                    $"data_offsets [{sorted[i].Begin}, {sorted[i].End}] overlap tensor '{sorted[i - 1].Name}' [{sorted[i - 1].Begin}, {sorted[i - 1].End}]");
        }
    }
}
