using System.Buffers.Binary;
using System.Text;
using LoraSqueeze.Core.Safetensors;

namespace LoraSqueeze.Core.Tests;

/// <summary>Each malformed-file case is rejected with its own message naming the file (and tensor).</summary>
public sealed class SafetensorsValidationTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("st-bad-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string WriteFile(string name, string headerJson, int dataBytes, ulong? claimedHeaderLength = null)
    {
        var path = Path.Combine(_dir, name);
        var header = Encoding.UTF8.GetBytes(headerJson);
        using var fs = new FileStream(path, FileMode.CreateNew);
        Span<byte> len = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(len, claimedHeaderLength ?? (ulong)header.Length);
        fs.Write(len);
        fs.Write(header);
        fs.Write(new byte[dataBytes]);
        return path;
    }

    private static SafetensorsFormatException Rejects(string path, string expected, string? tensor = null)
    {
        var ex = Assert.Throws<SafetensorsFormatException>(() => SafetensorsFile.Open(path).Dispose());
        Assert.Contains(expected, ex.Message);
        Assert.StartsWith(path, ex.Message);
        Assert.Equal(path, ex.FilePath);
        Assert.Equal(tensor, ex.TensorName);
        if (tensor is not null) Assert.Contains($"'{tensor}'", ex.Message);
        return ex;
    }

    [Fact]
    public void TooShortForHeaderLength()
    {
        var path = Path.Combine(_dir, "short.safetensors");
        File.WriteAllBytes(path, new byte[5]);
        Rejects(path, "too short");
    }

    [Fact]
    public void HeaderLengthLargerThanFile() =>
        Rejects(WriteFile("hl.safetensors", "{}", 0, claimedHeaderLength: 1000), "larger than the file");

    [Fact]
    public void HeaderLengthAboveLimit()
    {
        // A sparse file bigger than the limit, so the only problem is the limit itself.
        var path = WriteFile("limit.safetensors", "{}", 0, claimedHeaderLength: SafetensorsHeader.MaxHeaderBytes + 8);
        using (var fs = new FileStream(path, FileMode.Open)) fs.SetLength(SafetensorsHeader.MaxHeaderBytes + 64);
        Rejects(path, "exceeds the");
    }

    [Fact]
    public void HeaderLengthHugeValueDoesNotAllocate() =>
        Rejects(WriteFile("huge.safetensors", "{}", 0, claimedHeaderLength: ulong.MaxValue), "larger than the file");

    [Fact]
    public void MalformedJson() =>
        Rejects(WriteFile("json.safetensors", "{\"a\": {\"dtype\": ", 0), "not valid JSON");

    [Fact]
    public void HeaderNotAnObject() =>
        Rejects(WriteFile("array.safetensors", "[1, 2, 3]", 0), "must be a JSON object");

    [Fact]
    public void UnknownDType() =>
        Rejects(WriteFile("dtype.safetensors", "{\"w\":{\"dtype\":\"F31\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4), "unknown dtype 'F31'", "w");

    [Fact]
    public void MissingShape() =>
        Rejects(WriteFile("shape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4), "'shape'", "w");

    [Fact]
    public void NegativeDimension() =>
        Rejects(WriteFile("neg.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4), "non-negative integer", "w");

    [Fact]
    public void OffsetsOutOfRange() =>
        Rejects(WriteFile("range.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", 8), "out of range", "w");

    [Fact]
    public void OffsetsReversed() =>
        Rejects(WriteFile("rev.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}}", 8), "before begin", "w");

    [Fact]
    public void OffsetsDisagreeWithShapeAndDType() =>
        Rejects(WriteFile("size.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "needs 12", "w");

    [Fact]
    public void ShapeOverflow() =>
        Rejects(WriteFile("ovf.safetensors", "{\"w\":{\"dtype\":\"F64\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", 8), "overflows", "w");

    [Fact]
    public void OverlappingOffsets() =>
        Rejects(WriteFile("overlap.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12),
            "overlap tensor 'a'", "b");

    [Fact]
    public void HolesAndTrailingBytesAreRefused()
    {
        Rejects(WriteFile("hole.safetensors",
            "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", 12),
            "belong to no tensor", "b");
        Rejects(WriteFile("trailing.safetensors", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4096),
            "4092 trailing byte(s)");
    }

    [Fact]
    public void DuplicateNames() =>
        Rejects(WriteFile("dup.safetensors",
            "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2),
            "duplicate name", "a");

    [Fact]
    public void MetadataMustBeStrings() =>
        Rejects(WriteFile("meta.safetensors", "{\"__metadata__\":{\"format\":1}}", 0), "__metadata__ value for 'format'");

    [Fact]
    public void MissingFileIsFileNotFound()
    {
        var path = Path.Combine(_dir, "nope.safetensors");
        var ex = Assert.Throws<FileNotFoundException>(() => SafetensorsFile.Open(path));
        Assert.Contains(path, ex.Message);
    }

    [Fact]
    public void UnknownTensorNameNamesTheFile()
    {
        var path = WriteFile("ok.safetensors", "{\"w\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
        using var file = SafetensorsFile.Open(path);
        var ex = Assert.Throws<KeyNotFoundException>(() => file.ReadBytes("v"));
        Assert.Contains(path, ex.Message);
        Assert.Contains("'v'", ex.Message);
    }

    [Fact]
    public void ShardIndexProblemsAreNamed()
    {
        var idx = Path.Combine(_dir, "model.safetensors.index.json");
        File.WriteAllText(idx, "{\"weight_map\": {\"w\": \"model-00001-of-00002.safetensors\"}}");
        var missing = Assert.Throws<SafetensorsFormatException>(() => ShardedSafetensors.Open(idx));
        Assert.Contains("does not exist", missing.Message);

        File.WriteAllText(idx, "{\"weight_map\": {\"w\": \"../escape.safetensors\"}}");
        Assert.Contains("must be a file name", Assert.Throws<SafetensorsFormatException>(() => ShardedSafetensors.Open(idx)).Message);

        File.WriteAllText(idx, "{\"metadata\": {}}");
        Assert.Contains("weight_map", Assert.Throws<SafetensorsFormatException>(() => ShardedSafetensors.Open(idx)).Message);

        File.WriteAllText(idx, "{not json");
        Assert.Contains("not valid JSON", Assert.Throws<SafetensorsFormatException>(() => ShardedSafetensors.Open(idx)).Message);

        // A name listed in the index but absent from its shard.
        WriteFile("model-00001-of-00001.safetensors", "{\"other\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
        File.WriteAllText(idx, "{\"weight_map\": {\"w\": \"model-00001-of-00001.safetensors\"}}");
        using var sharded = ShardedSafetensors.Open(idx);
        var ex = Assert.Throws<SafetensorsFormatException>(() => sharded.ReadTensor("w"));
        Assert.Contains("missing from the shard", ex.Message);
        Assert.Equal("w", ex.TensorName);
    }
}
