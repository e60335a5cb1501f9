using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model;
using LoraSqueeze.Training.Tokenization;

namespace LoraSqueeze.Testing;

/// <summary>
/// The one writer of tiny self-made assets (the generated demo, the load test's models, the tests): a byte-level BPE
/// tokenizer trained on a short text, a random Llama-shaped model in Hugging Face layout sized to it, and random PEFT
/// LoRA adapters for that model. Everything is written with the project's own writers (the BPE trainer's tokenizer
/// files, <see cref="TinyModelFactory"/>, <see cref="PeftLoraWriter"/>), so the server reads real files.
/// </summary>
public static class TinyAssets
{
    /// <summary>
    /// Trains the tokenizer on <paramref name="corpus"/> (<paramref name="vocabSize"/> at most) and writes it with a
    /// model of <paramref name="spec"/>'s shape into <paramref name="dir"/>; the model's vocabulary is the tokenizer's,
    /// and its EOS is the first special token after the learned vocabulary.
    /// </summary>
    public static void WriteModel(string dir, string corpus, int vocabSize, TinyModelSpec spec)
    {
        TorchRuntime.EnsureInitialized();
        var training = BpeTrainer.Train([corpus], new BpeTrainerOptions { VocabSize = vocabSize, MinFrequency = 2 });
        training.Save(dir);
        int eos = training.Vocab.Count - training.Options.SpecialTokens.Count + 1;
        TinyModelFactory.Write(dir, spec with { VocabSize = training.Vocab.Count, EosTokenId = eos });
    }

    /// <summary>Writes a random rank-<paramref name="rank"/> PEFT LoRA adapter for <paramref name="model"/> into <paramref name="dir"/>.</summary>
    public static void WriteRandomAdapter(CausalLM model, string modelDir, string dir, string name, int rank, long seed)
    {
        using var weights = TinyModelFactory.RandomAdapter(model, name, rank, seed);
        PeftLoraWriter.Write(weights, dir, baseModelNameOrPath: modelDir, overwrite: true);
    }
}
