using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using TorchSharp;

namespace LoraSqueeze.Core.Safetensors;

/// <summary>
/// A validated, lazily read safetensors file. Opening reads and checks only the header; each tensor is read on demand
/// with positioned reads (<see cref="RandomAccess"/>), so a 10 GB checkpoint is never read whole to get one tensor.
/// Instances are safe for concurrent reads.
/// </summary>
public sealed class SafetensorsFile : ITensorSource
{
    private readonly SafeFileHandle _handle;
    private readonly Dictionary<string, SafetensorsTensorInfo> _byName;
    private readonly long _dataStart;

    private SafetensorsFile(string path, SafeFileHandle handle, List<SafetensorsTensorInfo> tensors,
        Dictionary<string, string> metadata, long dataStart, long fileLength)
    {
        Path = path;
        _handle = handle;
        Tensors = tensors;
        Metadata = metadata;
        _dataStart = dataStart;
        FileLength = fileLength;
        _byName = tensors.ToDictionary(t => t.Name, StringComparer.Ordinal);
    }

    /// <summary>The file path.</summary>
    public string Path { get; }

    /// <inheritdoc />
    public string Location => Path;

    /// <summary>Total file length in bytes.</summary>
    public long FileLength { get; }

    /// <summary>Header entries in header order.</summary>
    public IReadOnlyList<SafetensorsTensorInfo> Tensors { get; }

    /// <summary>The <c>__metadata__</c> map (empty when absent).</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <inheritdoc />
    public IReadOnlyCollection<string> Names => _byName.Keys;

    /// <summary>Opens and validates a file. Throws <see cref="FileNotFoundException"/> or <see cref="SafetensorsFormatException"/>.</summary>
    public static SafetensorsFile Open(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"safetensors file not found: {path}", path);
        var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.RandomAccess);
        try
        {
            long length = RandomAccess.GetLength(handle);
            if (length < 8)
                throw new SafetensorsFormatException(path, null, $"file has {length} bytes, too short for the 8-byte header length");
            Span<byte> lenBytes = stackalloc byte[8];
            ReadExactly(handle, lenBytes, 0, path, null);
            ulong headerLen = BinaryPrimitives.ReadUInt64LittleEndian(lenBytes);
            if (headerLen > (ulong)(length - 8))
                throw new SafetensorsFormatException(path, null, $"header length {headerLen} is larger than the file ({length} bytes)");
            if (headerLen > SafetensorsHeader.MaxHeaderBytes)
                throw new SafetensorsFormatException(path, null, $"header length {headerLen} exceeds the {SafetensorsHeader.MaxHeaderBytes}-byte limit");
            if (headerLen < 2)
                throw new SafetensorsFormatException(path, null, $"header length {headerLen} is too small for a JSON object");
            var header = new byte[(int)headerLen];
            ReadExactly(handle, header, 8, path, null);
            long dataStart = 8 + (long)headerLen;
            var (tensors, metadata) = SafetensorsHeader.Parse(path, header, length - dataStart);
            return new SafetensorsFile(path, handle, tensors, metadata, dataStart, length);
        }
        catch
        {
            handle.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public SafetensorsTensorInfo? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Header entry for a tensor; throws <see cref="KeyNotFoundException"/> naming the file when absent.</summary>
    public SafetensorsTensorInfo Get(string name) =>
        Find(name) ?? throw new KeyNotFoundException($"{Path}: no tensor named '{name}'");

    /// <summary>Reads a tensor's raw little-endian bytes.</summary>
    public byte[] ReadBytes(string name)
    {
        var info = Get(name);
        if (info.ByteLength > Array.MaxLength)
            throw new SafetensorsFormatException(Path, name, $"{info.ByteLength} bytes do not fit a managed array; use ReadTensor");
        var buffer = new byte[info.ByteLength];
        ReadExactly(_handle, buffer, _dataStart + info.Begin, Path, name);
        return buffer;
    }

    /// <summary>Reads a tensor's raw bytes into <paramref name="destination"/> (which must be exactly its size).</summary>
    public void ReadInto(string name, Span<byte> destination)
    {
        var info = Get(name);
        if (destination.Length != info.ByteLength)
            throw new ArgumentException($"destination has {destination.Length} bytes, tensor '{name}' has {info.ByteLength}", nameof(destination));
        ReadExactly(_handle, destination, _dataStart + info.Begin, Path, name);
    }

    /// <summary>Reads a floating-point tensor (F16, BF16, F32, F64) converted to float32, flattened.</summary>
    public float[] ReadFloat32(string name)
    {
        var info = Get(name);
        if (!info.DType.IsFloat())
            throw new SafetensorsFormatException(Path, name, $"dtype {info.DType} is not a floating-point type");
        return HalfConversions.ToFloat32(ReadBytes(name), info.DType);
    }

    /// <inheritdoc />
    public torch.Tensor ReadTensor(string name, torch.ScalarType? dtype = null)
    {
        var info = Get(name);
        var tensor = TorchTensorIO.Empty(info, Path);
        try
        {
            TorchTensorIO.Fill(tensor, info, (span, offset) => ReadExactly(_handle, span, _dataStart + info.Begin + offset, Path, name));
            var widened = TorchTensorIO.WidenUnsigned(tensor, info, Path);
            if (!ReferenceEquals(widened, tensor)) { tensor.Dispose(); tensor = widened; }
            if (dtype is { } target && tensor.dtype != target)
            {
                var converted = tensor.to_type(target);
                tensor.Dispose();
                tensor = converted;
            }
            return tensor;
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();

    private static void ReadExactly(SafeFileHandle handle, Span<byte> buffer, long offset, string path, string? tensor)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int n = RandomAccess.Read(handle, buffer[done..], offset + done);
            if (n <= 0)
                throw new SafetensorsFormatException(path, tensor, $"unexpected end of file at byte {offset + done}");
            done += n;
        }
    }
}
