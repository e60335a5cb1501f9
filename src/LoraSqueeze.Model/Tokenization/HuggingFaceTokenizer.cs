namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// The <c>tokenizer.json</c> pipeline (<c>tokenizers/src/tokenizer/mod.rs</c>, <c>encode_single_sequence</c>):
/// split out added tokens → normalize → pre-tokenize → BPE per word → post-process; decoding maps ids to token
/// strings, drops special tokens when asked, and runs the decoder. Built by <see cref="TokenizerLoader"/>.
/// </summary>
public sealed class HuggingFaceTokenizer : ITokenizer
{
    private readonly BpeModel _model;
    private readonly AddedVocabulary _added;
    private readonly PreTokenizer? _preTokenizer;
    private readonly TokenDecoder? _decoder;
    private readonly PostProcessor _postProcessor;
    private readonly Dictionary<int, AddedToken> _addedById;
    private readonly Dictionary<string, int> _addedByContent;

    public HuggingFaceTokenizer(
        BpeModel model,
        IReadOnlyList<AddedToken> addedTokens,
        TextNormalizer? normalizer,
        PreTokenizer? preTokenizer,
        TokenDecoder? decoder,
        PostProcessor? postProcessor,
        int? bosTokenId = null,
        IReadOnlyList<int>? eosTokenIds = null)
    {
        _model = model;
        _added = new AddedVocabulary(addedTokens, normalizer);
        _preTokenizer = preTokenizer;
        _decoder = decoder;
        _postProcessor = postProcessor ?? PostProcessor.None;
        _addedById = addedTokens.ToDictionary(t => t.Id);
        _addedByContent = [];
        foreach (var t in addedTokens) _addedByContent.TryAdd(t.Content, t.Id);
        BosTokenId = bosTokenId;
        EosTokenIds = eosTokenIds ?? [];
        VocabSize = Math.Max(model.IdCount, addedTokens.Count == 0 ? 0 : addedTokens.Max(t => t.Id) + 1);
    }

    public int? BosTokenId { get; }

    public IReadOnlyList<int> EosTokenIds { get; }

    public int VocabSize { get; }

    public BpeModel Model => _model;

    public IReadOnlyList<AddedToken> AddedTokens => _added.Tokens;

    public PostProcessor PostProcessor => _postProcessor;

    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        var pieces = new List<string>();
        foreach (var segment in _added.Split(text))
        {
            if (segment.Token is not null)
            {
                ids.Add(segment.Token.Id);
                continue;
            }
            if (segment.Text.Length == 0) continue;
            pieces.Clear();
            pieces.Add(segment.Text);
            _preTokenizer?.Apply(pieces, segment.AtInputStart);
            foreach (var word in pieces) _model.EncodeWord(word, ids);
        }
        return addSpecialTokens ? _postProcessor.Apply(ids) : [.. ids];
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = true)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            if (skipSpecialTokens && IsSpecial(id)) continue;
            var token = IdToToken(id);
            if (token is not null) tokens.Add(token);
        }
        return _decoder is null ? string.Join(' ', tokens) : _decoder.Decode(tokens);
    }

    public string? IdToToken(int id) => _addedById.TryGetValue(id, out var added) ? added.Content : _model.IdToToken(id);

    public int? TokenToId(string token) => _addedByContent.TryGetValue(token, out int id) ? id : _model.TokenToId(token);

    public bool IsSpecial(int id) => _addedById.TryGetValue(id, out var added) && added.Special;
}
