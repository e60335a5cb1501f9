namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// Splits text on added tokens before the model sees it (<c>added_vocabulary.rs</c>, <c>extract_and_normalize</c>):
/// leftmost-longest matching, first the non-normalized tokens on the raw text, then the normalized ones on the
/// normalized text of what is left.
/// </summary>
public sealed class AddedVocabulary
{
    private readonly Matcher _raw;
    private readonly Matcher _normalized;
    private readonly TextNormalizer? _normalizer;

    public AddedVocabulary(IReadOnlyList<AddedToken> tokens, TextNormalizer? normalizer)
    {
        Tokens = tokens;
        _normalizer = normalizer;
        _raw = new Matcher(tokens.Where(t => !t.Normalized || normalizer is null).Select(t => (t.Content, t)));
        _normalized = new Matcher(tokens.Where(t => t.Normalized && normalizer is not null)
            .Select(t => (normalizer!.Normalize(t.Content), t)));
    }

    public IReadOnlyList<AddedToken> Tokens { get; }

    /// <summary>
    /// A piece of input: an added token (<see cref="Token"/> set) or normalized text for the pre-tokenizer;
    /// <see cref="AtInputStart"/> tells whether it begins the input.
    /// </summary>
    public readonly record struct Segment(string Text, AddedToken? Token, bool AtInputStart);

    public List<Segment> Split(string text)
    {
        var segments = new List<Segment>();
        foreach (var (piece, token, start) in _raw.Split(text))
        {
            if (token is not null)
            {
                segments.Add(new Segment(piece, token, start == 0));
                continue;
            }
            var normalized = _normalizer?.Normalize(piece) ?? piece;
            foreach (var (inner, innerToken, innerStart) in _normalized.Split(normalized))
                segments.Add(new Segment(inner, innerToken, start == 0 && innerStart == 0));
        }
        return segments;
    }

    private sealed class Matcher
    {
        // Candidates by first char, longest first, so the first hit at a position is the longest match.
        private readonly Dictionary<char, (string Content, AddedToken Token)[]> _byFirstChar;

        public Matcher(IEnumerable<(string Content, AddedToken Token)> entries)
        {
            _byFirstChar = entries.Where(e => e.Content.Length > 0)
                .GroupBy(e => e.Content[0])
                .ToDictionary(g => g.Key, g => g.OrderByDescending(e => e.Content.Length).ToArray());
        }

        public List<(string Text, AddedToken? Token, int Start)> Split(string text)
        {
            var result = new List<(string, AddedToken?, int)>();
            if (_byFirstChar.Count == 0)
            {
                result.Add((text, null, 0));
                return result;
            }
            int textStart = 0;
            for (int i = 0; i < text.Length; i++)
            {
                if (!_byFirstChar.TryGetValue(text[i], out var candidates)) continue;
                foreach (var (content, token) in candidates)
                {
                    if (!text.AsSpan(i).StartsWith(content, StringComparison.Ordinal)) continue;
                    int end = i + content.Length;
                    if (token.SingleWord && !IsWordBoundary(text, i, end)) continue;
                    int matchStart = i;
                    if (token.LStrip)
                        while (matchStart > textStart && char.IsWhiteSpace(text[matchStart - 1])) matchStart--;
                    if (token.RStrip)
                        while (end < text.Length && char.IsWhiteSpace(text[end])) end++;
                    if (matchStart > textStart) result.Add((text[textStart..matchStart], null, textStart));
                    result.Add((text[matchStart..end], token, matchStart));
                    textStart = end;
                    i = end - 1;
                    break;
                }
            }
            if (textStart < text.Length) result.Add((text[textStart..], null, textStart));
            return result;
        }

        private static bool IsWordBoundary(string text, int start, int end)
        {
            // added_vocabulary.rs: a word char is alphanumeric or '_'.
            static bool IsWordChar(char c) => char.IsLetterOrDigit(c) || c == '_';
            return (start == 0 || !IsWordChar(text[start - 1])) && (end == text.Length || !IsWordChar(text[end]));
        }
    }
}
