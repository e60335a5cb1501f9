using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Model.Tests.Tokenization;

/// <summary>The tokenizer's NFC normalizer (ICU through string.Normalize) on UAX #15's hard cases.</summary>
public class NfcNormalizerTests
{
    [Theory]
    [InlineData("cafe\u0301", "caf\u00e9")]
    [InlineData("A\u030a", "\u00c5")]
    [InlineData("\u212b", "\u00c5")] // Angstrom sign: singleton decomposition
    [InlineData("\u1100\u1161\u11a8", "\uac01")] // Hangul jamo compose to 각
    [InlineData("a\u0323\u0302", "\u1ead")] // dot below + circumflex → ậ
    [InlineData("a\u0302\u0323", "\u1ead")] // out-of-order marks are reordered first
    [InlineData("\u0958", "\u0915\u093c")] // composition exclusion stays decomposed
    [InlineData("plain ascii", "plain ascii")]
    public void ComposesLikeUax15(string input, string expected) => Assert.Equal(expected, new TextNormalizer.Nfc().Normalize(input));
}
