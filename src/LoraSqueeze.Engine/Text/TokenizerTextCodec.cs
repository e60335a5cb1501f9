using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Engine.Text;

/// <summary>The model's Hugging Face tokenizer as the front ends' codec (thread-safe, no tensors).</summary>
public sealed class TokenizerTextCodec(ITokenizer tokenizer, int modelVocabSize) : ITextCodec
{
    public int[] Encode(string text) => tokenizer.Encode(text, addSpecialTokens: true);

    public int[] Encode(string text, bool addSpecialTokens) => tokenizer.Encode(text, addSpecialTokens);

    public string TokenText(int tokenId) => tokenizer.Decode([tokenId], skipSpecialTokens: false);

    public string Decode(IReadOnlyList<int> tokenIds)
    {
        var ids = tokenIds as int[] ?? tokenIds.ToArray();
        return tokenizer.Decode(ids, skipSpecialTokens: true);
    }

    public TextStreamer CreateStreamer(IReadOnlyList<int> promptTokens, IReadOnlyList<string> stops) =>
        new(new IncrementalDecoder(tokenizer, promptTokens), stops);

    /// <summary>The model's embedding rows bound valid ids (a tokenizer may know more added tokens than that).</summary>
    public int VocabSize => Math.Min(modelVocabSize, tokenizer.VocabSize);
}
