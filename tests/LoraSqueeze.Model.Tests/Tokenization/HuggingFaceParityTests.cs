using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Model.Tests.Tokenization;

/// <summary>
/// Token ids, tokens and decoded text must equal HF tokenizers' output (golden files from make_golden.js) for real
/// Llama-3, Qwen3 (Qwen2 tokenizer), GPT-2 and Mistral (SentencePiece BPE + byte fallback) tokenizer files.
/// </summary>
public class HuggingFaceParityTests
{
    public static TheoryData<string> Families() => [.. TokenizerFixtures.Families];

    [Theory]
    [MemberData(nameof(Families))]
    public void EncodeMatchesHuggingFace(string family)
    {
        var tok = TokenizerFixtures.Load(family);
        var golden = TokenizerFixtures.Golden(family);
        Assert.True(golden.Cases.Length >= 30);
        var failures = new List<string>();
        foreach (var c in golden.Cases)
        {
            var ids = tok.Encode(c.Text, addSpecialTokens: false);
            if (!ids.SequenceEqual(c.Ids))
                failures.Add($"{Show(c.Text)}\n  expected [{string.Join(",", c.Ids)}]\n  actual   [{string.Join(",", ids)}]\n  tokens   [{string.Join("|", ids.Select(tok.IdToToken))}]");
            var withSpecial = tok.Encode(c.Text, addSpecialTokens: true);
            if (!withSpecial.SequenceEqual(c.IdsWithSpecial))
                failures.Add($"{Show(c.Text)} (with special tokens)\n  expected [{string.Join(",", c.IdsWithSpecial)}]\n  actual   [{string.Join(",", withSpecial)}]");
            var tokens = c.Ids.Select(tok.IdToToken).ToArray();
            if (!tokens.SequenceEqual(c.Tokens))
                failures.Add($"{Show(c.Text)} tokens differ");
        }
        Assert.True(failures.Count == 0, $"{family}: {failures.Count} mismatches\n" + string.Join("\n", failures));
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void DecodeMatchesHuggingFace(string family)
    {
        var tok = TokenizerFixtures.Load(family);
        var failures = new List<string>();
        foreach (var c in TokenizerFixtures.Golden(family).Cases)
        {
            var text = tok.Decode(c.IdsWithSpecial, skipSpecialTokens: true);
            if (text != c.Decoded) failures.Add($"{Show(c.Text)}: expected {Show(c.Decoded)}, got {Show(text)}");
            var withSpecial = tok.Decode(c.IdsWithSpecial, skipSpecialTokens: false);
            if (withSpecial != c.DecodedWithSpecial) failures.Add($"{Show(c.Text)} (keeping specials): expected {Show(c.DecodedWithSpecial)}, got {Show(withSpecial)}");
        }
        Assert.True(failures.Count == 0, $"{family}: {failures.Count} mismatches\n" + string.Join("\n", failures));
    }

    private static string Show(string s) => System.Text.Json.JsonSerializer.Serialize(s);
}
