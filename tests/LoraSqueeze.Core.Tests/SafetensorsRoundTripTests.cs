using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using LoraSqueeze.Core.Safetensors;
using LoraSqueeze.Core.Torch;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraSqueeze.Core.Tests;

public sealed class SafetensorsRoundTripTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("st-rt-").FullName;

    public SafetensorsRoundTripTests() => TorchRuntime.EnsureInitialized();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static bool Same(Tensor a, Tensor b) =>
        a.dtype == b.dtype && a.shape.SequenceEqual(b.shape) && a.eq(b).all().ToBoolean();

    [Theory]
    [InlineData(SafetensorsDType.BOOL)]
    [InlineData(SafetensorsDType.U8)]
    [InlineData(SafetensorsDType.I8)]
    [InlineData(SafetensorsDType.I16)]
    [InlineData(SafetensorsDType.U16)]
    [InlineData(SafetensorsDType.F16)]
    [InlineData(SafetensorsDType.BF16)]
    [InlineData(SafetensorsDType.I32)]
    [InlineData(SafetensorsDType.U32)]
    [InlineData(SafetensorsDType.F32)]
    [InlineData(SafetensorsDType.F64)]
    [InlineData(SafetensorsDType.I64)]
    [InlineData(SafetensorsDType.U64)]
    [InlineData(SafetensorsDType.F8_E4M3)]
    [InlineData(SafetensorsDType.F8_E5M2)]
    public void RawBytesRoundTripForEveryDType(SafetensorsDType dtype)
    {
        var rng = new Random((int)dtype + 7);
        var shape = new long[] { 3, 5 };
        var bytes = new byte[15 * dtype.ElementSize()];
        rng.NextBytes(bytes);
        if (dtype == SafetensorsDType.BOOL) for (int i = 0; i < bytes.Length; i++) bytes[i] &= 1;
        var scalar = new byte[dtype.ElementSize()];
        rng.NextBytes(scalar);
        if (dtype == SafetensorsDType.BOOL) scalar[0] &= 1;
        var path = Path.Combine(_dir, $"{dtype}.safetensors");
        SafetensorsWriter.WriteRaw(path,
        [
            new RawTensor("weight", dtype, shape, bytes),
            new RawTensor("scalar", dtype, [], scalar),
            new RawTensor("empty", dtype, [0, 4], Array.Empty<byte>()),
        ]);

        using var file = SafetensorsFile.Open(path);
        Assert.Equal(bytes, file.ReadBytes("weight"));
        Assert.Equal(scalar, file.ReadBytes("scalar"));
        Assert.Empty(file.ReadBytes("empty"));
        var info = file.Get("weight");
        Assert.Equal(dtype, info.DType);
        Assert.Equal(shape, info.Shape);
        Assert.Equal("pt", file.Metadata["format"]);
    }

    [Theory]
    [InlineData(ScalarType.Float32)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float64)]
    [InlineData(ScalarType.Int64)]
    [InlineData(ScalarType.Int32)]
    [InlineData(ScalarType.Int16)]
    [InlineData(ScalarType.Int8)]
    [InlineData(ScalarType.Byte)]
    [InlineData(ScalarType.Bool)]
    public void TorchTensorsRoundTrip(ScalarType type)
    {
        using var scope = torch.NewDisposeScope();
        var source = (torch.randn(new long[] { 4, 7 }, generator: new Generator(3)) * 50).to_type(type);
        var transposed = torch.randn(new long[] { 6, 2 }, generator: new Generator(4)).to_type(type).T; // non-contiguous
        var path = Path.Combine(_dir, $"torch-{type}.safetensors");
        SafetensorsWriter.Write(path, [new("a", source), new("b.t", transposed)], new Dictionary<string, string> { ["format"] = "pt", ["note"] = "x" });

        using var file = SafetensorsFile.Open(path);
        Assert.Equal("x", file.Metadata["note"]);
        var a = file.ReadTensor("a");
        var b = file.ReadTensor("b.t");
        Assert.Equal(type, a.dtype);
        Assert.True(Same(a, source), "tensor a changed in the round trip");
        Assert.True(Same(b, transposed), "non-contiguous tensor changed in the round trip");
        Assert.Equal(ScalarType.Float64, file.ReadTensor("a", ScalarType.Float64).dtype);
    }

    [Fact]
    public void UnsignedTypesWidenToSignedTorchTypes()
    {
        using var scope = torch.NewDisposeScope();
        var u16 = new byte[4];
        BinaryPrimitives.WriteUInt16LittleEndian(u16, 65535);
        BinaryPrimitives.WriteUInt16LittleEndian(u16.AsSpan(2), 7);
        var u32 = new byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(u32, 4_000_000_000);
        var path = Path.Combine(_dir, "unsigned.safetensors");
        SafetensorsWriter.WriteRaw(path, [new RawTensor("u16", SafetensorsDType.U16, [2], u16), new RawTensor("u32", SafetensorsDType.U32, [1], u32)]);
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(new[] { 65535, 7 }, file.ReadTensor("u16").data<int>().ToArray());
        Assert.Equal(4_000_000_000L, file.ReadTensor("u32").data<long>()[0]);
    }

    [Fact]
    public void FloatConversionsMatchTorch()
    {
        using var scope = torch.NewDisposeScope();
        var values = torch.linspace(-3, 3, 25);
        foreach (var type in new[] { ScalarType.Float16, ScalarType.BFloat16, ScalarType.Float64 })
        {
            var path = Path.Combine(_dir, $"conv-{type}.safetensors");
            SafetensorsWriter.Write(path, [new("v", values.to_type(type))]);
            using var file = SafetensorsFile.Open(path);
            var expected = values.to_type(type).to_type(ScalarType.Float32).data<float>().ToArray();
            Assert.Equal(expected, file.ReadFloat32("v"));
        }
    }

    [Fact]
    public void HeaderIsAlignedAndDataContiguous()
    {
        using var scope = torch.NewDisposeScope();
        var path = Path.Combine(_dir, "layout.safetensors");
        SafetensorsWriter.Write(path, [new("z.half", torch.ones(3, ScalarType.Float16)), new("a.float", torch.ones(5)), new("m.long", torch.ones(2, ScalarType.Int64))]);
        var bytes = File.ReadAllBytes(path);
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        Assert.Equal(0UL, n % 8);
        using var doc = JsonDocument.Parse(bytes.AsMemory(8, (int)n));
        Assert.Equal("pt", doc.RootElement.GetProperty("__metadata__").GetProperty("format").GetString());
        // Largest element size first, so each tensor is aligned to its element size; no gaps, no trailing bytes.
        var ranges = doc.RootElement.EnumerateObject().Where(p => p.Name != "__metadata__")
            .Select(p => (p.Name, Begin: p.Value.GetProperty("data_offsets")[0].GetInt64(), End: p.Value.GetProperty("data_offsets")[1].GetInt64()))
            .OrderBy(r => r.Begin).ToList();
        Assert.Equal(new[] { "m.long", "a.float", "z.half" }, ranges.Select(r => r.Name));
        Assert.Equal(0, ranges[0].Begin);
        for (int i = 1; i < ranges.Count; i++) Assert.Equal(ranges[i - 1].End, ranges[i].Begin);
        Assert.Equal(bytes.Length, 8 + (long)n + ranges[^1].End);
    }

    [Fact]
    public void ShardedCheckpointReadsAcrossShards()
    {
        using var scope = torch.NewDisposeScope();
        var tensors = Enumerable.Range(0, 6)
            .Select(i => new KeyValuePair<string, Tensor>($"model.layers.{i}.weight", torch.full(new long[] { 16, 16 }, (float)i)))
            .ToList();
        var dir = Path.Combine(_dir, "sharded");
        var written = ShardedSafetensorsWriter.Write(dir, tensors, maxShardBytes: 2 * 16 * 16 * 4);
        Assert.Equal(4, written.Count); // 3 shards + index
        Assert.True(File.Exists(Path.Combine(dir, "model-00001-of-00003.safetensors")));

        using var source = SafetensorsCheckpoint.Open(dir);
        var sharded = Assert.IsType<ShardedSafetensors>(source);
        Assert.Equal(3, sharded.ShardFiles.Count);
        Assert.Equal(6, source.Names.Count);
        Assert.Equal((6 * 16 * 16 * 4).ToString(), sharded.Metadata["total_size"]);
        for (int i = 0; i < 6; i++)
        {
            var t = source.ReadTensor($"model.layers.{i}.weight");
            Assert.True(Same(t, tensors[i].Value));
        }
        Assert.Null(source.Find("missing"));
        Assert.Throws<KeyNotFoundException>(() => source.ReadTensor("missing"));
    }

    [Fact]
    public void SingleFileCheckpointIsFoundInAFolder()
    {
        using var scope = torch.NewDisposeScope();
        var dir = Path.Combine(_dir, "single");
        ShardedSafetensorsWriter.Write(dir, [new("w", torch.ones(2))], maxShardBytes: 1 << 20);
        using var source = SafetensorsCheckpoint.Open(dir);
        Assert.IsType<SafetensorsFile>(source);
        Assert.Throws<FileNotFoundException>(() => SafetensorsCheckpoint.Open(_dir));
    }

    [Fact]
    public void LazyReadTouchesOnlyTheRequestedTensor()
    {
        // A 4 GiB tensor in a sparse file: opening and reading the small tensor must not read (or allocate) it.
        long big = 1L << 32;
        var header = $"{{\"big\":{{\"dtype\":\"F32\",\"shape\":[{big / 4}],\"data_offsets\":[0,{big}]}},"
            + $"\"small\":{{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[{big},{big + 16}]}}}}";
        var path = Path.Combine(_dir, "sparse.safetensors");
        var headerBytes = Encoding.UTF8.GetBytes(header.PadRight((header.Length + 7) / 8 * 8));
        using (var fs = new FileStream(path, FileMode.CreateNew))
        {
            Span<byte> len = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(len, (ulong)headerBytes.Length);
            fs.Write(len);
            fs.Write(headerBytes);
            fs.SetLength(8 + headerBytes.Length + big + 16);
            fs.Seek(8 + headerBytes.Length + big, SeekOrigin.Begin);
            foreach (var f in new float[] { 1.5f, -2f, 3f, 0.25f }) fs.Write(BitConverter.GetBytes(f));
        }
        // This thread's allocations only: GetTotalAllocatedBytes also counted the tests running in parallel beside
        // this one (a fresh-clone CI run saw 1.2 MB from them); the reads below all run on this thread.
        long before = GC.GetAllocatedBytesForCurrentThread();
        using var file = SafetensorsFile.Open(path);
        Assert.Equal(new float[] { 1.5f, -2f, 3f, 0.25f }, file.ReadFloat32("small"));
        using var t = file.ReadTensor("small");
        Assert.Equal(new float[] { 1.5f, -2f, 3f, 0.25f }, t.data<float>().ToArray());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1 << 20, $"opening and reading 16 bytes allocated {allocated} managed bytes");
        Assert.Equal(big, file.Get("big").ByteLength);
    }

    [Fact]
    public void ChunkedReadsAndWritesMatchSingleReads()
    {
        using var scope = torch.NewDisposeScope();
        var source = torch.randn(new long[] { 37, 11 }, generator: new Generator(9));
        var path = Path.Combine(_dir, "chunked.safetensors");
        var saved = TorchTensorIOChunk.Set(40); // 10 floats per chunk, last chunk partial
        try
        {
            SafetensorsWriter.Write(path, [new("x", source)]);
            using var file = SafetensorsFile.Open(path);
            Assert.True(Same(file.ReadTensor("x"), source));
        }
        finally
        {
            TorchTensorIOChunk.Set(saved);
        }
        using var again = SafetensorsFile.Open(path);
        Assert.True(Same(again.ReadTensor("x"), source));
    }

    [Fact]
    public void WriterRefusesBadInput()
    {
        var path = Path.Combine(_dir, "bad.safetensors");
        var ex = Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteRaw(path,
            [new RawTensor("a", SafetensorsDType.F32, [2], new byte[4])]));
        Assert.Contains("'a'", ex.Message);
        Assert.Throws<ArgumentException>(() => SafetensorsWriter.WriteRaw(path,
            [new RawTensor("a", SafetensorsDType.U8, [1], new byte[1]), new RawTensor("a", SafetensorsDType.U8, [1], new byte[1])]));
        Assert.False(File.Exists(path));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }
}

/// <summary>Lets tests shrink the chunk size of tensor I/O to exercise the chunked paths.</summary>
internal static class TorchTensorIOChunk
{
    public static long Set(long bytes)
    {
        var old = TorchTensorIO.ChunkBytes;
        TorchTensorIO.ChunkBytes = bytes;
        return old;
    }
}
