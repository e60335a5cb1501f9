using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Model.Tests.Tokenization;

public class TokenizerLoaderTests
{
    private static string WriteTokenizer(string json, string? config = null)
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorasqueeze-tok-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "tokenizer.json"), json);
        if (config is not null) File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"), config);
        return dir;
    }

    [Fact]
    public void MissingDirectoryAndFileAreNamed()
    {
        var ex = Assert.Throws<TokenizerFormatException>(() => TokenizerLoader.FromDirectory("/nonexistent/model"));
        Assert.Contains("/nonexistent/model", ex.Message);
        var empty = Directory.CreateTempSubdirectory().FullName;
        Assert.Contains("tokenizer.json", Assert.Throws<TokenizerFormatException>(() => TokenizerLoader.FromDirectory(empty)).Message);
    }

    [Fact]
    public void MalformedJsonIsRefused() =>
        Assert.Contains("not valid JSON", Assert.Throws<TokenizerFormatException>(() => TokenizerLoader.FromDirectory(WriteTokenizer("{ \"model\": "))).Message);

    [Theory]
    [InlineData("""{"model": {"type": "Unigram", "vocab": []}}""", "model.type")]
    [InlineData("""{"model": {"type": "WordPiece", "vocab": {}}}""", "model.type")]
    [InlineData("""{"pre_tokenizer": {"type": "BertPreTokenizer"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}""", "pre_tokenizer.type")]
    [InlineData("""{"normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"}]}, "model": {"type": "BPE", "vocab": {}, "merges": []}}""", "normalizer.normalizers[0].type")]
    [InlineData("""{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["a b"]}}""", "model.merges[0]")]
    [InlineData("""{"model": {"type": "BPE", "dropout": 0.1, "vocab": {}, "merges": []}}""", "model.dropout")]
    public void UnsupportedFeaturesNameTheField(string json, string field)
    {
        var ex = Assert.Throws<TokenizerFormatException>(() => TokenizerLoader.FromDirectory(WriteTokenizer(json)));
        Assert.Contains(field, ex.Message);
    }

    [Fact]
    public void BothMergeFormatsAndGenerationConfigEosListLoad()
    {
        const string vocab = """{"a": 0, "b": 1, "c": 2, "ab": 3, "abc": 4, "<eos>": 5, "<eot>": 6}""";
        var strings = TokenizerLoader.FromDirectory(WriteTokenizer($$$"""{"model": {"type": "BPE", "vocab": {{{vocab}}}, "merges": ["a b", "ab c"]}}"""));
        var dir = WriteTokenizer($$$"""{"model": {"type": "BPE", "vocab": {{{vocab}}}, "merges": [["a", "b"], ["ab", "c"]]}}""", """{"eos_token": {"content": "<eos>"}}""");
        File.WriteAllText(Path.Combine(dir, "generation_config.json"), """{"eos_token_id": [6, 5]}""");
        var pairs = TokenizerLoader.FromDirectory(dir);
        Assert.Equal([4, 4], strings.Encode("abcabc"));
        Assert.Equal([2, 3], strings.Encode("cab"));
        Assert.Equal(strings.Encode("abcab"), pairs.Encode("abcab"));
        Assert.Equal([4, 3], pairs.Encode("abcab"));
        Assert.Equal([5, 6], pairs.EosTokenIds);
    }

    [Fact]
    public void LlamaConfigFlagsRebuildTheBosTemplate()
    {
        var dir = TokenizerFixtures.Unpack("mistral");
        var tok = TokenizerFixtures.Load("mistral");
        Assert.Equal(1, tok.BosTokenId);
        Assert.Equal(1, tok.Encode("hi")[0]);
        Assert.Equal([2], tok.EosTokenIds);
        Assert.True(Directory.Exists(dir));
    }

    [Fact]
    public void SpecialTokensAreSkippedOnlyWhenAsked()
    {
        var tok = TokenizerFixtures.Load("qwen3");
        var ids = tok.Encode("<|im_start|>user\nhi<|im_end|>");
        Assert.Equal(tok.TokenToId("<|im_start|>"), ids[0]);
        Assert.True(tok.IsSpecial(ids[0]));
        Assert.Equal("user\nhi", tok.Decode(ids));
        Assert.Equal("<|im_start|>user\nhi<|im_end|>", tok.Decode(ids, skipSpecialTokens: false));
        Assert.Null(tok.BosTokenId);
        Assert.Equal([tok.TokenToId("<|im_end|>")!.Value], tok.EosTokenIds);
    }

    [Fact]
    public void LongTextEncodesQuicklyAndRoundTrips()
    {
        var tok = TokenizerFixtures.Load("llama3");
        var text = string.Concat(Enumerable.Repeat("Long text with     spaces, 12345 digits, café and 你好 🤗.\n", 4000));
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var ids = tok.Encode(text, addSpecialTokens: false);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"encoding 240 kB took {watch.Elapsed}");
        Assert.Equal(text, tok.Decode(ids));
        // One huge SentencePiece "word" (no pre-tokenizer splits it) must not be quadratic either.
        var mistral = TokenizerFixtures.Load("mistral");
        watch.Restart();
        var sp = mistral.Encode(text, addSpecialTokens: false);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(5), $"SentencePiece encoding took {watch.Elapsed}");
        Assert.Equal(text, mistral.Decode(sp));
    }
}
