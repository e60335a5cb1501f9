namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// One entry of <c>tokenizer.json</c>'s <c>added_tokens</c> (<c>tokenizers/src/tokenizer/added_vocabulary.rs</c>).
/// <c>Normalized</c> tokens are matched in normalized text, the others in the raw text; <c>LStrip</c>/<c>RStrip</c>
/// swallow neighbouring whitespace; <c>SingleWord</c> matches only between non-word chars.
/// </summary>
public sealed record AddedToken(
    int Id,
    string Content,
    bool Special,
    bool Normalized = false,
    bool LStrip = false,
    bool RStrip = false,
    bool SingleWord = false);
