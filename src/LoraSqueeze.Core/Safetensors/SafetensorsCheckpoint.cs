namespace LoraSqueeze.Core.Safetensors;

/// <summary>Opens the weights of a Hugging Face model or adapter folder, single-file or sharded.</summary>
public static class SafetensorsCheckpoint
{
    /// <summary>
    /// Opens <paramref name="pathOrDir"/>: a .safetensors file, an index .json, or a folder holding
    /// <c>{prefix}.safetensors</c> or <c>{prefix}.safetensors.index.json</c> (prefix "model" by default).
    /// </summary>
    public static ITensorSource Open(string pathOrDir, string prefix = "model")
    {
        if (File.Exists(pathOrDir))
        {
            return pathOrDir.EndsWith(".json", StringComparison.OrdinalIgnoreCase)
                ? ShardedSafetensors.Open(pathOrDir)
                : SafetensorsFile.Open(pathOrDir);
        }
        if (!Directory.Exists(pathOrDir))
            throw new DirectoryNotFoundException($"checkpoint not found: {pathOrDir}");
        var single = Path.Combine(pathOrDir, prefix + ".safetensors");
        if (File.Exists(single)) return SafetensorsFile.Open(single);
        var index = Path.Combine(pathOrDir, prefix + ".safetensors.index.json");
        if (File.Exists(index)) return ShardedSafetensors.Open(index);
        throw new FileNotFoundException($"{pathOrDir}: neither {prefix}.safetensors nor {prefix}.safetensors.index.json exists", single);
    }
}
