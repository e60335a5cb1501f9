namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// Text ↔ token ids for one model. Ids equal those of Hugging Face's <c>tokenizers</c> library for the same
/// <c>tokenizer.json</c> (see docs/tokenizer.md for the families tested). Implementations are thread-safe.
/// </summary>
public interface ITokenizer
{
    /// <summary>
    /// Encodes <paramref name="text"/>. Added/special tokens written in the text (e.g. <c>&lt;|im_end|&gt;</c>)
    /// become their ids, as in HF's <c>Tokenizer.encode</c>; <paramref name="addSpecialTokens"/> runs the
    /// post-processor (BOS for Llama-family templates).
    /// </summary>
    int[] Encode(string text, bool addSpecialTokens = true);

    /// <summary>Decodes ids to text through the tokenizer's decoder; special added tokens are dropped when asked.</summary>
    string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true);

    /// <summary>The beginning-of-sequence id from <c>tokenizer_config.json</c>, or null when the model has none.</summary>
    int? BosTokenId { get; }

    /// <summary>Every id that ends generation (<c>generation_config.json</c> <c>eos_token_id</c>, which may be a list, plus the config's <c>eos_token</c>).</summary>
    IReadOnlyList<int> EosTokenIds { get; }

    /// <summary>One past the largest id of the model vocabulary and the added tokens.</summary>
    int VocabSize { get; }

    /// <summary>The token string of <paramref name="id"/> (byte-level tokens in their mapped form, e.g. <c>Ġthe</c>), or null.</summary>
    string? IdToToken(int id);

    /// <summary>The id of a token string (vocabulary or added token), or null.</summary>
    int? TokenToId(string token);

    /// <summary>True for added tokens marked <c>special</c> (skipped by <see cref="Decode"/> when asked).</summary>
    bool IsSpecial(int id);
}
