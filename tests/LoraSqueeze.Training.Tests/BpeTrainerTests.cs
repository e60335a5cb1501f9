using System.Diagnostics;
using System.Text;
using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Training.Tokenization;

namespace LoraSqueeze.Training.Tests;

public class BpeTrainerTests
{
    private static readonly string[] Sentences =
    [
        "The quick brown fox jumps over the lazy dog.",
        "A multi-adapter server squeezes every LoRA adapter to one rank.",
        "Tokenizers split text into words, then words into sub-word tokens.",
        "In 2024 there were 1234567 tokens; in 2025, 89012345.",
        "Café, naïve, résumé — accents matter. Ünïcödé too!",
        "你好，世界！今天天气很好。",
        "Emoji: 😀 🤗 👍🏽 and more.",
        "def add(a, b):\n    return a + b\n",
    ];

    private static string Corpus(int approxBytes)
    {
        var rng = new Random(1234);
        var sb = new StringBuilder(approxBytes + 200);
        while (sb.Length < approxBytes)
        {
            sb.Append(Sentences[rng.Next(Sentences.Length)]);
            sb.Append(rng.Next(4) == 0 ? "\n" : " ");
            // Random "words" keep the pair statistics from being trivially few.
            for (int i = rng.Next(6); i > 0; i--)
            {
                int len = rng.Next(2, 9);
                for (int k = 0; k < len; k++) sb.Append((char)('a' + rng.Next(26)));
                sb.Append(' ');
            }
        }
        return sb.ToString();
    }

    [Fact]
    public void TrainedTokenizerLoadsBackAndRoundTrips()
    {
        var result = BpeTrainer.Train([Corpus(300_000)], new BpeTrainerOptions { VocabSize = 2048 });
        Assert.Equal(2048, result.Vocab.Count);
        Assert.Equal(2048 - 256 - 3, result.Merges.Count);

        var dir = Path.Combine(Path.GetTempPath(), "lorasqueeze-bpe-trainer-" + Environment.ProcessId);
        result.Save(dir);
        var tok = TokenizerLoader.FromDirectory(dir);
        Assert.Equal(2048, tok.VocabSize);
        Assert.Equal(tok.TokenToId("<|begin_of_text|>"), tok.BosTokenId);
        Assert.Equal([tok.TokenToId("<|end_of_text|>")!.Value], tok.EosTokenIds);

        string[] texts =
        [
            "The quick brown fox jumps over the lazy dog.",
            "unseen words: zyzzyva, quixotic, 𝒜𝓑𝒞 𠀀 and 🇫🇷 flags",
            "  whitespace   runs\t\tand\n\n\nnewlines\r\n",
            "digits 1234567890 and 3.14159",
            "<|begin_of_text|>special<|end_of_text|>",
            "你好，世界！",
            "",
        ];
        foreach (var text in texts)
        {
            var ids = tok.Encode(text);
            Assert.Equal(tok.BosTokenId, ids[0]);
            Assert.Equal(text, tok.Decode(ids, skipSpecialTokens: false)[("<|begin_of_text|>".Length)..]);
            Assert.All(ids, id => Assert.InRange(id, 0, tok.VocabSize - 1));
        }
        // Frequent words were learned as single tokens.
        Assert.Single(tok.Encode(" quick", addSpecialTokens: false));
        Assert.True(tok.Encode("The quick brown fox jumps over the lazy dog.", addSpecialTokens: false).Length <= 10);
    }

    // A corpus of realistic size trains to the full vocabulary. Its speed (about 3 s alone on one core, Debug) is printed,
    // not asserted: a wall-clock bound in a test fails on a loaded machine (it did, at load 3 on 2 cores) and proves
    // nothing about the code (the project measures speed in benchmarks, not tests).
    [Fact]
    public void TrainingSeveralMegabytesGivesTheFullVocabulary()
    {
        var corpus = Corpus(2_000_000);
        var watch = Stopwatch.StartNew();
        var trainer = new BpeTrainer(new BpeTrainerOptions { VocabSize = 4096 });
        trainer.Feed(corpus);
        var feed = watch.Elapsed;
        var result = trainer.Train();
        watch.Stop();
        Console.WriteLine($"BpeTrainer: 2 MB pre-tokenized in {feed}, trained in {watch.Elapsed - feed}");
        Assert.Equal(4096, result.Vocab.Count);
        Assert.Equal(result.Vocab.Count, result.Vocab.Distinct().Count());   // no token twice
    }

    [Fact]
    public void VocabularyTooSmallIsRefused() =>
        Assert.Throws<ArgumentException>(() => new BpeTrainer(new BpeTrainerOptions { VocabSize = 100 }));
}
