using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model;
using TorchSharp;

namespace LoraSqueeze.Testing;

/// <summary>Where the demo model and its adapters are.</summary>
public sealed record DemoAssetPaths(string ModelDir, string AdapterRoot, IReadOnlyList<string> AdapterIds);

/// <summary>
/// The generated demo: what <c>lorasqueeze serve</c> serves when the trained demo (<c>models/demo</c>) is not there,
/// and what the server and CLI tests run on. A small random Llama-shaped model with a byte-level BPE tokenizer trained
/// on a short built-in text, and random PEFT LoRA adapters of ranks 4, 8 and 16 (so the squeeze to the target rank 8
/// is lossless for two of them and lossy for one), written by <see cref="TinyAssets"/>. Written once; a marker file
/// makes later calls free.
/// </summary>
public static class DemoAssets
{
    /// <summary>The demo server's target rank.</summary>
    public const int TargetRank = 8;

    private const string Version = "demo-v1";

    private static readonly (string Id, int Rank)[] Adapters = [("demo-r4", 4), ("demo-r8", 8), ("demo-r16", 16)];

    /// <summary>The text the generated demo's tokenizer and model are written from.</summary>
    public const string Corpus =
        "LoraSqueeze serves one base model and many LoRA adapters. Every adapter is squeezed to one rank on load, " +
        "so adapters of any origin batch together. The quick brown fox jumps over the lazy dog. Once upon a time " +
        "there was a small model that answered every prompt with a little story about cats, dogs and the sea. " +
        "hello world, hello adapters, hello squeeze. 0123456789 the cat sat on the mat.";

    /// <summary>Writes the demo into <paramref name="directory"/> unless it is already there.</summary>
    public static DemoAssetPaths Ensure(string directory)
    {
        var modelDir = Path.Combine(directory, "model");
        var adapterRoot = Path.Combine(directory, "adapters");
        var paths = new DemoAssetPaths(modelDir, adapterRoot, Adapters.Select(a => a.Id).ToList());
        var marker = Path.Combine(directory, Version + ".done");
        if (File.Exists(marker)) return paths;

        TinyAssets.WriteModel(modelDir, Corpus, vocabSize: 320, TinyModelSpec.Llama with
        {
            HiddenSize = 64,
            IntermediateSize = 128,
            MaxPositionEmbeddings = 512,
        });
        TorchRuntime.EnsureInitialized();
        using var model = CausalLM.Load(modelDir, torch.CPU, new ModelLoadOptions { AdapterRank = TargetRank, AdapterSlots = 1 });
        long seed = 10;
        foreach (var (id, rank) in Adapters)
            TinyAssets.WriteRandomAdapter(model, modelDir, Path.Combine(adapterRoot, id), id, rank, seed++);
        File.WriteAllText(marker, DateTimeOffset.UtcNow.ToString("O"));
        return paths;
    }
}
