namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// Streaming detokenizer: fed one id at a time, it returns only text that is complete. A byte-level BPE or
/// byte-fallback token can end in the middle of a UTF-8 char, and SentencePiece decoders strip the first space, so
/// decoding ids one by one is wrong. We follow text-generation-inference's <c>decode_token</c>
/// (<c>server/text_generation_server/models/model.py</c>): decode a short window <c>[prefix, read)</c> and the
/// window with the new ids <c>[prefix, end)</c>; when the second is longer and does not end in U+FFFD, its extra
/// text is the new piece and the window slides forward. Not thread-safe: one instance per sequence.
/// </summary>
public sealed class IncrementalDecoder
{
    // TGI seeds the window with the last few prompt tokens so the first generated piece keeps its leading space.
    private const int ContextTokens = 5;

    private readonly ITokenizer _tokenizer;
    private readonly bool _skipSpecialTokens;
    private readonly List<int> _ids = [];
    private int _prefixOffset;
    private int _readOffset;

    /// <param name="tokenizer">The tokenizer whose ids are streamed.</param>
    /// <param name="promptIds">The prompt, if any: its tail gives the decoder context and is never emitted.</param>
    /// <param name="skipSpecialTokens">Drop special tokens from the text, as <see cref="ITokenizer.Decode"/> does.</param>
    public IncrementalDecoder(ITokenizer tokenizer, IEnumerable<int>? promptIds = null, bool skipSpecialTokens = true)
    {
        _tokenizer = tokenizer;
        _skipSpecialTokens = skipSpecialTokens;
        if (promptIds is null) return;
        var prompt = promptIds as IList<int> ?? promptIds.ToList();
        int start = Math.Max(0, prompt.Count - ContextTokens);
        for (int i = start; i < prompt.Count; i++) _ids.Add(prompt[i]);
        _readOffset = _ids.Count;
    }

    /// <summary>Adds one generated id; returns the new text, or "" while a char is still incomplete.</summary>
    public string Push(int id)
    {
        _ids.Add(id);
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids);
        var prefixText = _tokenizer.Decode(span[_prefixOffset.._readOffset], _skipSpecialTokens);
        var newText = _tokenizer.Decode(span[_prefixOffset..], _skipSpecialTokens);
        if (newText.Length <= prefixText.Length || newText.EndsWith('\uFFFD')) return "";
        var piece = newText[prefixText.Length..];
        _prefixOffset = _readOffset;
        _readOffset = _ids.Count;
        return piece;
    }

    /// <summary>At the end of a stream: whatever text is still held back (possibly ending in U+FFFD), or "".</summary>
    public string Flush()
    {
        if (_readOffset == _ids.Count) return "";
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_ids);
        var prefixText = _tokenizer.Decode(span[_prefixOffset.._readOffset], _skipSpecialTokens);
        var newText = _tokenizer.Decode(span[_prefixOffset..], _skipSpecialTokens);
        _prefixOffset = _readOffset;
        _readOffset = _ids.Count;
        return newText.Length > prefixText.Length ? newText[prefixText.Length..] : "";
    }
}
