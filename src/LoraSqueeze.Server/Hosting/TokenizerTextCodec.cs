using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Server.Engine;

namespace LoraSqueeze.Server.Hosting;

/// <summary>The model's Hugging Face tokenizer as the service layer's codec (thread-safe, no tensors).</summary>
internal sealed class TokenizerTextCodec(ITokenizer tokenizer, int modelVocabSize) : ITextCodec
{
    public int[] Encode(string text) => tokenizer.Encode(text, addSpecialTokens: true);

    public string Decode(IReadOnlyList<int> tokenIds)
    {
        var ids = tokenIds as int[] ?? tokenIds.ToArray();
        return tokenizer.Decode(ids, skipSpecialTokens: true);
    }

    /// <summary>The model's embedding rows bound valid ids (a tokenizer may know more added tokens than that).</summary>
    public int VocabSize => Math.Min(modelVocabSize, tokenizer.VocabSize);
}
