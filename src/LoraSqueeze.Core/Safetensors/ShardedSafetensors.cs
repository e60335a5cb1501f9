using System.Text.Json;
using TorchSharp;

namespace LoraSqueeze.Core.Safetensors;

/// <summary>
/// A Hugging Face sharded checkpoint: <c>model.safetensors.index.json</c> (<c>{"metadata": {...}, "weight_map":
/// {tensor: shard file}}</c>, see transformers' <c>modeling_utils.load_sharded_checkpoint</c>) plus its shards.
/// Shards are opened (header only) on first use.
/// </summary>
public sealed class ShardedSafetensors : ITensorSource
{
    private readonly Dictionary<string, string> _weightMap;
    private readonly Dictionary<string, SafetensorsFile> _open = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();
    private readonly string _dir;

    private ShardedSafetensors(string indexPath, Dictionary<string, string> weightMap, Dictionary<string, string> metadata)
    {
        IndexPath = indexPath;
        _dir = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
        _weightMap = weightMap;
        Metadata = metadata;
    }

    /// <summary>Path of the index file.</summary>
    public string IndexPath { get; }

    /// <inheritdoc />
    public string Location => IndexPath;

    /// <summary>The index's "metadata" object, values as text.</summary>
    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Distinct shard file names.</summary>
    public IReadOnlyList<string> ShardFiles => _weightMap.Values.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();

    /// <inheritdoc />
    public IReadOnlyCollection<string> Names => _weightMap.Keys;

    /// <summary>Opens an index, checking its JSON and that every shard it names exists beside it.</summary>
    public static ShardedSafetensors Open(string indexPath)
    {
        if (!File.Exists(indexPath)) throw new FileNotFoundException($"sharded index not found: {indexPath}", indexPath);
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllBytes(indexPath));
        }
        catch (JsonException ex)
        {
            throw new SafetensorsFormatException(indexPath, null, $"index is not valid JSON ({ex.Message})");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Object || !doc.RootElement.TryGetProperty("weight_map", out var wm) || wm.ValueKind != JsonValueKind.Object)
                throw new SafetensorsFormatException(indexPath, null, "index has no 'weight_map' object");
            var map = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (var p in wm.EnumerateObject())
            {
                if (p.Value.ValueKind != JsonValueKind.String)
                    throw new SafetensorsFormatException(indexPath, p.Name, "weight_map value must be a file name");
                var file = p.Value.GetString()!;
                if (file.Contains('/') || file.Contains('\\') || file is "." or "..")
                    throw new SafetensorsFormatException(indexPath, p.Name, $"shard '{file}' must be a file name in the index's folder");
                if (!map.TryAdd(p.Name, file))
                    throw new SafetensorsFormatException(indexPath, p.Name, "duplicate name in weight_map");
            }
            var meta = new Dictionary<string, string>(StringComparer.Ordinal);
            if (doc.RootElement.TryGetProperty("metadata", out var md) && md.ValueKind == JsonValueKind.Object)
                foreach (var p in md.EnumerateObject()) meta[p.Name] = p.Value.ToString();
            var dir = Path.GetDirectoryName(Path.GetFullPath(indexPath))!;
            foreach (var shard in map.Values.Distinct())
            {
                if (!File.Exists(Path.Combine(dir, shard)))
                    throw new SafetensorsFormatException(indexPath, null, $"shard '{shard}' listed in weight_map does not exist");
            }
            return new ShardedSafetensors(indexPath, map, meta);
        }
    }

    /// <summary>The shard (opened lazily) that holds a tensor.</summary>
    public SafetensorsFile ShardFor(string name)
    {
        if (!_weightMap.TryGetValue(name, out var file))
            throw new KeyNotFoundException($"{IndexPath}: no tensor named '{name}' in weight_map");
        lock (_lock)
        {
            if (!_open.TryGetValue(file, out var shard))
            {
                shard = SafetensorsFile.Open(Path.Combine(_dir, file));
                _open[file] = shard;
            }
            if (shard.Find(name) is null)
                throw new SafetensorsFormatException(shard.Path, name, $"listed in {Path.GetFileName(IndexPath)} but missing from the shard");
            return shard;
        }
    }

    /// <inheritdoc />
    public SafetensorsTensorInfo? Find(string name) => _weightMap.ContainsKey(name) ? ShardFor(name).Find(name) : null;

    /// <inheritdoc />
    public torch.Tensor ReadTensor(string name, torch.ScalarType? dtype = null) => ShardFor(name).ReadTensor(name, dtype);

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_lock)
        {
            foreach (var f in _open.Values) f.Dispose();
            _open.Clear();
        }
    }
}
