using System.Text;
using LoraSqueeze.Engine.Text;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Engine.Tests;

/// <summary>The text streamer: the incremental decoder's pieces, held back around stop strings and unfinished chars.</summary>
public sealed class TextStreamerTests
{
    /// <summary>A byte tokenizer: id = one UTF-8 byte, decoded as UTF-8 (an unfinished char decodes to U+FFFD).</summary>
    private sealed class ByteTokenizer : ITokenizer
    {
        public int[] Encode(string text, bool addSpecialTokens = true) => [.. Encoding.UTF8.GetBytes(text).Select(b => (int)b)];
        public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true)
        {
            var bytes = new byte[ids.Length];
            for (int i = 0; i < ids.Length; i++) bytes[i] = (byte)ids[i];
            return Encoding.UTF8.GetString(bytes);
        }
        public int? BosTokenId => null;
        public IReadOnlyList<int> EosTokenIds => [];
        public int VocabSize => 256;
        public string? IdToToken(int id) => ((char)id).ToString();
        public int? TokenToId(string token) => token.Length == 1 ? token[0] : null;
        public bool IsSpecial(int id) => false;
    }

    private static TextStreamer Streamer(params string[] stops) => new(new IncrementalDecoder(new ByteTokenizer()), stops);

    [Fact]
    public void Text_stream_holds_back_possible_stop_prefixes_and_cuts_at_the_stop()
    {
        var stream = Streamer("END");
        var pieces = "abcENxEND!".Select(c => stream.Push(c)).TakeWhile(_ => !stream.Stopped).ToList();
        Assert.True(stream.Stopped);
        Assert.Equal("abcENx", stream.Text);
        Assert.DoesNotContain(pieces, p => p.Contains("END", StringComparison.Ordinal));
    }

    [Fact]
    public void Text_stream_holds_back_unfinished_characters()
    {
        // é is two UTF-8 bytes: after the first, the decoder has only U+FFFD, which is held back.
        var stream = Streamer();
        Assert.Equal("a", stream.Push('a'));
        Assert.Equal("", stream.Push(0xC3));
        Assert.Equal("é", stream.Push(0xA9));
        Assert.Equal("", stream.Flush());
    }

    [Fact]
    public void Text_stream_flushes_a_held_stop_prefix_at_the_end_and_matches_a_full_decode()
    {
        var stream = Streamer("ENDING");
        const string text = "once upon a time, the END";
        var pieces = text.Select(c => stream.Push(c)).ToList();
        Assert.False(stream.Stopped);
        Assert.Equal("once upon a time, the ", string.Concat(pieces));   // "END" could still become "ENDING"
        Assert.Equal("END", stream.Flush());
        Assert.Equal(text, stream.Text);
    }
}
