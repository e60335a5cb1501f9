using System.Globalization;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Testing;
using TorchSharp;

namespace LoraSqueeze.LoadTest.Comparison;

/// <summary>
/// Writes the comparison's inputs with the project's own writers: a random Llama-shaped model with a small byte-level BPE
/// tokenizer (TinyAssets, the same writer as the generated demo's), and PEFT LoRA adapters of heterogeneous source ranks (PeftLoraWriter).
/// Disk use is capped: a pool of <c>copies</c> physical adapters per rank is written once, and the many adapter ids
/// are symlinks into that pool (inside the adapter root, which the server allows). The server still loads, squeezes
/// and slots every id separately, so the serving work is that of distinct adapters; only the bytes on disk are shared.
/// </summary>
public static class AssetWriter
{
    private const string Corpus =
        "LoraSqueeze load test. The server holds one base model and many LoRA adapters; requests pick an adapter by " +
        "a power law, as in S-LoRA. The quick brown fox jumps over the lazy dog. 0123456789 hello world, hello adapters.";

    /// <summary>The hidden-1024, 4-layer model of the comparison (random weights; the vocab is the tokenizer's, ~300).</summary>
    public static string EnsureModel(string dir, int hidden, int layers)
    {
        if (File.Exists(Path.Combine(dir, "model.safetensors")) && File.Exists(Path.Combine(dir, "tokenizer.json"))) return dir;
        TinyAssets.WriteModel(dir, Corpus, vocabSize: 300, TinyModelSpec.Llama with
        {
            HiddenSize = hidden,
            IntermediateSize = hidden * 11 / 4,
            Layers = layers,
            Heads = hidden / 64,
            KvHeads = Math.Max(1, hidden / 256),
            MaxPositionEmbeddings = 2048,
            Seed = 7,
        });
        return dir;
    }

    /// <summary>
    /// <paramref name="count"/> adapter ids (<c>a0000</c>…) under <paramref name="root"/>, source ranks drawn uniformly
    /// from <paramref name="ranks"/> independently of popularity, backed by <paramref name="copies"/> physical adapters
    /// per rank. Written once per parameter set (a marker file records them).
    /// </summary>
    public static AdapterSet EnsureAdapters(string modelDir, string root, int count, IReadOnlyList<int> ranks, int copies, int seed)
    {
        var ids = Enumerable.Range(0, count).Select(i => "a" + i.ToString("D4", CultureInfo.InvariantCulture)).ToList();
        var random = new Random(seed);
        var idRanks = ids.Select(_ => ranks[random.Next(ranks.Count)]).ToList();
        var picks = ids.Select(_ => random.Next(copies)).ToList();
        string pool = Path.Combine(root, "_pool");
        string marker = Path.Combine(root, $"set-{count}-{string.Join('_', ranks)}-{copies}-{seed}.done");
        if (!File.Exists(marker))
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
            Directory.CreateDirectory(pool);
            TorchRuntime.EnsureInitialized();
            using (var model = CausalLM.Load(modelDir, torch.CPU, new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 1 }))
            {
                long s = seed * 1000L;
                foreach (int rank in ranks)
                {
                    for (int k = 0; k < copies; k++)
                    {
                        TinyAssets.WriteRandomAdapter(model, modelDir, Path.Combine(pool, $"r{rank}-{k}"), $"r{rank}-{k}", rank, s++);
                    }
                }
            }
            for (int i = 0; i < count; i++)
                Directory.CreateSymbolicLink(Path.Combine(root, ids[i]), Path.Combine("_pool", $"r{idRanks[i]}-{picks[i]}"));
            File.WriteAllText(marker, DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        }
        long bytes = new DirectoryInfo(pool).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        return new AdapterSet(root, ids, idRanks, ranks.Count * copies, bytes);
    }

    /// <summary>
    /// The same adapter ids backed by the pool squeezed ahead of time to <paramref name="targetRank"/> with the squeeze
    /// engine and written as PEFT (what a deployment that squeezes once at upload serves): the server's squeeze on
    /// load is then exact and cheap. The ids map to the same pool entries as in <paramref name="raw"/>.
    /// </summary>
    public static AdapterSet EnsureSqueezed(string modelDir, AdapterSet raw, string root, int targetRank)
    {
        string pool = Path.Combine(root, "_pool");
        string marker = Path.Combine(root, $"squeezed-{targetRank}-{Path.GetFileName(Directory.GetFiles(raw.Root, "set-*.done").Single())}");
        if (!File.Exists(marker))
        {
            if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
            Directory.CreateDirectory(pool);
            TorchRuntime.EnsureInitialized();
            foreach (var dir in Directory.GetDirectories(Path.Combine(raw.Root, "_pool")))
            {
                var (weights, _) = AdapterSqueezer.LoadAndSqueeze(dir, targetRank, new SqueezeOptions(), modelDir);
                using (weights) PeftLoraWriter.Write(weights, Path.Combine(pool, Path.GetFileName(dir)), baseModelNameOrPath: modelDir, overwrite: true);
            }
            foreach (var id in raw.Ids)
                Directory.CreateSymbolicLink(Path.Combine(root, id), new DirectoryInfo(Path.Combine(raw.Root, id)).LinkTarget!);
            File.WriteAllText(marker, DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture));
        }
        long bytes = new DirectoryInfo(pool).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
        return raw with { Root = root, DiskBytes = bytes };
    }

    /// <summary>Largest rank every LoRA target of the model can hold (min over projections of min(in, out)).</summary>
    public static int MaxRank(string modelDir)
    {
        var c = ModelConfig.Load(modelDir);
        int kv = c.NumKvHeads * c.HeadDim;
        return Math.Min(Math.Min(c.HiddenSize, kv), c.IntermediateSize);
    }
}
