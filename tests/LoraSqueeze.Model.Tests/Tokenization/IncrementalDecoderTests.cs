using System.Text;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Model.Tests.Tokenization;

public class IncrementalDecoderTests
{
    public static TheoryData<string> Families() => [.. TokenizerFixtures.Families];

    [Theory]
    [MemberData(nameof(Families))]
    public void StreamedPiecesConcatenateToTheFullDecode(string family)
    {
        var tok = TokenizerFixtures.Load(family);
        foreach (var c in TokenizerFixtures.Golden(family).Cases)
        {
            var decoder = new IncrementalDecoder(tok);
            var streamed = new StringBuilder();
            foreach (int id in c.Ids)
            {
                var piece = decoder.Push(id);
                // A piece is never a half char: no trailing replacement char, no lone high surrogate.
                Assert.False(piece.EndsWith('\uFFFD'), $"{family}: piece ends in U+FFFD for {c.Text}");
                Assert.False(piece.Length > 0 && char.IsHighSurrogate(piece[^1]));
                streamed.Append(piece);
            }
            streamed.Append(decoder.Flush());
            Assert.Equal(tok.Decode(c.Ids), streamed.ToString());
        }
    }

    [Fact]
    public void ByteLevelEmojiIsHeldBackUntilComplete()
    {
        var tok = TokenizerFixtures.Load("gpt2");
        var ids = tok.Encode("🤗", addSpecialTokens: false);
        Assert.True(ids.Length > 1, "GPT-2 spells 🤗 with several byte tokens");
        var decoder = new IncrementalDecoder(tok);
        for (int i = 0; i < ids.Length - 1; i++) Assert.Equal("", decoder.Push(ids[i]));
        Assert.Equal("🤗", decoder.Push(ids[^1]));
    }

    [Fact]
    public void PromptContextKeepsTheLeadingSpaceOfSentencePieceTokens()
    {
        var tok = TokenizerFixtures.Load("mistral");
        var prompt = tok.Encode("Hello");
        int[] generated = [tok.TokenToId("▁world")!.Value];
        var decoder = new IncrementalDecoder(tok, prompt);
        var text = string.Concat(generated.Select(decoder.Push)) + decoder.Flush();
        Assert.Equal(" world", text);
    }
}
