using LoraSqueeze.Core.Torch;
using LoraSqueeze.Testing;
using LoraSqueeze.Training.Data;
using LoraSqueeze.Training.Pretraining;

namespace LoraSqueeze.Training.Tests;

/// <summary>
/// A tiny random Llama model in HF layout with a real byte-level BPE tokenizer (trained here on a small text), and a
/// learnable JSONL task: a few fixed sentences repeated, which a rank-4 adapter learns within a few dozen steps.
/// Built once per test run (xUnit class fixture).
/// </summary>
public sealed class TinyFixture : IDisposable
{
    public TinyFixture()
    {
        TorchRuntime.EnsureInitialized();
        Root = Path.Combine(Path.GetTempPath(), "ls-training-tests-" + Guid.NewGuid().ToString("N")[..8]);
        ModelDir = Path.Combine(Root, "model");
        string[] sentences =
        [
            "the cat sat on the mat.", "a dog ran in the park.", "the sun is bright today.",
            "we like green tea.", "birds sing at dawn.", "the river runs to the sea.",
        ];
        var rng = new Random(4);
        var lines = Enumerable.Range(0, 120).Select(_ => new TrainingExample("", string.Join(' ', Enumerable.Range(0, 3).Select(_ => sentences[rng.Next(sentences.Length)])))).ToList();
        DataPath = Path.Combine(Root, "train.jsonl");
        EvalPath = Path.Combine(Root, "eval.jsonl");
        JsonlReader.Write(DataPath, lines.Take(100));
        JsonlReader.Write(EvalPath, lines.Skip(100));
        var bpe = TokenizerBuilder.Build([DataPath], 300, ModelDir);
        TinyModelFactory.Write(ModelDir, new TinyModelSpec { VocabSize = bpe.Vocab.Count, HiddenSize = 32, IntermediateSize = 64, Layers = 2, Heads = 4, KvHeads = 2, EosTokenId = bpe.Vocab.Count - 2 });
    }

    public string Root { get; }
    public string ModelDir { get; }
    public string DataPath { get; }
    public string EvalPath { get; }

    public string Out(string name) => Path.Combine(Root, name + "-" + Guid.NewGuid().ToString("N")[..6]);

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, true);
        }
        catch (IOException)
        {
            // a leftover temp folder is harmless
        }
    }
}
