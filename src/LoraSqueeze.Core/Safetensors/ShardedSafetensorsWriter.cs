using System.Text.Json;
using TorchSharp;

namespace LoraSqueeze.Core.Safetensors;

/// <summary>
/// Writes a sharded checkpoint the way transformers' <c>save_pretrained(max_shard_size=...)</c> does:
/// <c>{prefix}-00001-of-0000N.safetensors</c> files plus <c>{prefix}.safetensors.index.json</c> with
/// <c>metadata.total_size</c> and a <c>weight_map</c>. With one shard it writes a plain <c>{prefix}.safetensors</c>.
/// </summary>
public static class ShardedSafetensorsWriter
{
    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    /// <summary>Splits tensors (in the given order) into shards of at most <paramref name="maxShardBytes"/> each
    /// (a single larger tensor gets a shard of its own) and writes them into <paramref name="dir"/>.</summary>
    public static IReadOnlyList<string> Write(string dir, IReadOnlyList<KeyValuePair<string, torch.Tensor>> tensors,
        long maxShardBytes, string prefix = "model")
    {
        Directory.CreateDirectory(dir);
        var shards = new List<List<KeyValuePair<string, torch.Tensor>>>();
        long current = 0;
        foreach (var kv in tensors)
        {
            long bytes = kv.Value.numel() * kv.Value.ElementSize;
            if (shards.Count == 0 || (current + bytes > maxShardBytes && current > 0))
            {
                shards.Add([]);
                current = 0;
            }
            shards[^1].Add(kv);
            current += bytes;
        }
        if (shards.Count <= 1)
        {
            var single = Path.Combine(dir, prefix + ".safetensors");
            SafetensorsWriter.Write(single, tensors);
            return [single];
        }

        var written = new List<string>();
        var weightMap = new SortedDictionary<string, string>(StringComparer.Ordinal);
        long total = 0;
        for (int i = 0; i < shards.Count; i++)
        {
            var name = $"{prefix}-{i + 1:D5}-of-{shards.Count:D5}.safetensors";
            var path = Path.Combine(dir, name);
            SafetensorsWriter.Write(path, shards[i]);
            written.Add(path);
            foreach (var kv in shards[i])
            {
                weightMap[kv.Key] = name;
                total += kv.Value.numel() * kv.Value.ElementSize;
            }
        }
        var index = new Dictionary<string, object>
        {
            ["metadata"] = new Dictionary<string, long> { ["total_size"] = total },
            ["weight_map"] = weightMap,
        };
        var indexPath = Path.Combine(dir, prefix + ".safetensors.index.json");
        File.WriteAllText(indexPath, JsonSerializer.Serialize(index, IndentedJson));
        written.Add(indexPath);
        return written;
    }
}
