using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Training.Data;
using LoraSqueeze.Training.Tokenization;

namespace LoraSqueeze.Training.Pretraining;

/// <summary>
/// Trains the demo model's byte-level BPE tokenizer (the tokenizer project's <see cref="BpeTrainer"/>, Llama-3
/// pre-tokenizer pattern) on the texts of JSONL files and writes tokenizer.json + tokenizer_config.json.
/// </summary>
public static class TokenizerBuilder
{
    public static BpeTrainingResult Build(IEnumerable<string> jsonlFiles, int vocabSize, string outDir)
    {
        var texts = jsonlFiles.SelectMany(JsonlReader.Read).Select(e => e.IsPlainText ? e.Completion : e.Prompt + e.Completion);
        var result = BpeTrainer.Train(texts, new BpeTrainerOptions { VocabSize = vocabSize });
        result.Save(outDir);
        return result;
    }
}
