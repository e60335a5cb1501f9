namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// The <c>pre_tokenizer</c> step (<c>tokenizers/src/pre_tokenizers/</c>): splits a normalized segment into words
/// that the BPE model encodes one by one. Pieces are rewritten in place; empty pieces are dropped.
/// </summary>
public abstract class PreTokenizer
{
    /// <param name="pieces">The pieces so far (one segment at the start).</param>
    /// <param name="firstIsAtInputStart">Whether <c>pieces[0]</c> begins the whole input (Metaspace's "first" scheme).</param>
    public abstract void Apply(List<string> pieces, bool firstIsAtInputStart);

    /// <summary>GPT-2's pattern, used by <c>ByteLevel</c> when <c>use_regex</c> is true (<c>byte_level.rs</c>).</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>How a <c>Split</c> pre-tokenizer treats its matches (<c>SplitDelimiterBehavior</c> in <c>normalizer.rs</c>).</summary>
    public enum SplitBehavior
    {
        Removed,
        Isolated,
        MergedWithPrevious,
        MergedWithNext,
        Contiguous,
    }

    /// <summary>
    /// <c>ByteLevel</c>: optional prefix space, optional GPT-2 regex split, then bytes → printable chars.
    /// </summary>
    public sealed class ByteLevel(bool addPrefixSpace, bool useRegex) : PreTokenizer
    {
        private static readonly Lazy<PatternSplitter> Gpt2 = new(() => new PatternSplitter(Gpt2Pattern));

        public override void Apply(List<string> pieces, bool firstIsAtInputStart)
        {
            var output = new List<string>(pieces.Count);
            foreach (var piece in pieces)
            {
                var text = addPrefixSpace && !piece.StartsWith(' ') ? " " + piece : piece;
                if (!useRegex)
                {
                    if (text.Length > 0) output.Add(ByteLevelAlphabet.Encode(text));
                    continue;
                }
                foreach (var (start, length) in Gpt2.Value.Matches(text))
                    output.Add(ByteLevelAlphabet.Encode(text.AsSpan(start, length)));
            }
            pieces.Clear();
            pieces.AddRange(output);
        }
    }

    /// <summary><c>Split</c> on a regex or literal, with a <see cref="SplitBehavior"/> (<c>pre_tokenizers/split.rs</c>).</summary>
    public sealed class Split(PatternSplitter pattern, SplitBehavior behavior) : PreTokenizer
    {
        public override void Apply(List<string> pieces, bool firstIsAtInputStart)
        {
            var output = new List<string>(pieces.Count * 4);
            foreach (var piece in pieces) SplitOne(piece, output);
            pieces.Clear();
            pieces.AddRange(output);
        }

        private void SplitOne(string text, List<string> output)
        {
            // Mark every span as (start, length, isMatch), gaps included, then apply the behavior.
            var spans = new List<(int Start, int Length, bool IsMatch)>();
            int cursor = 0;
            foreach (var (start, length) in pattern.Matches(text))
            {
                if (start > cursor) spans.Add((cursor, start - cursor, false));
                spans.Add((start, length, true));
                cursor = start + length;
            }
            if (cursor < text.Length) spans.Add((cursor, text.Length - cursor, false));

            switch (behavior)
            {
                case SplitBehavior.Isolated:
                    foreach (var s in spans) output.Add(text.Substring(s.Start, s.Length));
                    break;
                case SplitBehavior.Removed:
                    foreach (var s in spans)
                        if (!s.IsMatch) output.Add(text.Substring(s.Start, s.Length));
                    break;
                case SplitBehavior.MergedWithPrevious:
                    Merge(text, spans, output, withPrevious: true);
                    break;
                case SplitBehavior.MergedWithNext:
                    Merge(text, spans, output, withPrevious: false);
                    break;
                case SplitBehavior.Contiguous:
                    for (int i = 0; i < spans.Count;)
                    {
                        int j = i + 1;
                        while (spans[i].IsMatch && j < spans.Count && spans[j].IsMatch) j++;
                        int end = spans[j - 1].Start + spans[j - 1].Length;
                        output.Add(text[spans[i].Start..end]);
                        i = j;
                    }
                    break;
            }
        }

        private static void Merge(string text, List<(int Start, int Length, bool IsMatch)> spans, List<string> output, bool withPrevious)
        {
            // MergedWithPrevious: a match closes the current piece; MergedWithNext: a match opens a new one.
            int pieceStart = 0;
            int pos = 0;
            foreach (var s in spans)
            {
                if (withPrevious)
                {
                    pos = s.Start + s.Length;
                    if (s.IsMatch)
                    {
                        output.Add(text[pieceStart..pos]);
                        pieceStart = pos;
                    }
                }
                else
                {
                    if (s.IsMatch && s.Start > pieceStart)
                    {
                        output.Add(text[pieceStart..s.Start]);
                        pieceStart = s.Start;
                    }
                    pos = s.Start + s.Length;
                }
            }
            if (pos > pieceStart) output.Add(text[pieceStart..pos]);
        }
    }

    /// <summary>
    /// <c>Metaspace</c> (<c>pre_tokenizers/metaspace.rs</c>): spaces become the replacement char ("▁"), which is
    /// prepended per <c>prepend_scheme</c> (always / first / never); with <c>split</c>, each "▁" starts a new word.
    /// </summary>
    public sealed class Metaspace(char replacement, string prependScheme, bool split) : PreTokenizer
    {
        public char Replacement => replacement;

        public string PrependScheme => prependScheme;

        public override void Apply(List<string> pieces, bool firstIsAtInputStart)
        {
            var output = new List<string>(pieces.Count);
            for (int i = 0; i < pieces.Count; i++)
            {
                var text = pieces[i].Replace(' ', replacement);
                bool prepend = prependScheme switch
                {
                    "always" => true,
                    "first" => i == 0 && firstIsAtInputStart,
                    _ => false,
                };
                if (prepend && text.Length > 0 && text[0] != replacement) text = replacement + text;
                if (!split)
                {
                    if (text.Length > 0) output.Add(text);
                    continue;
                }
                int start = 0;
                for (int k = 1; k < text.Length; k++)
                {
                    if (text[k] != replacement) continue;
                    output.Add(text[start..k]);
                    start = k;
                }
                if (start < text.Length) output.Add(text[start..]);
            }
            pieces.Clear();
            pieces.AddRange(output);
        }
    }

    /// <summary><c>Sequence</c>: applies each pre-tokenizer to the pieces of the previous one.</summary>
    public sealed class Sequence(IReadOnlyList<PreTokenizer> steps) : PreTokenizer
    {
        public override void Apply(List<string> pieces, bool firstIsAtInputStart)
        {
            foreach (var step in steps) step.Apply(pieces, firstIsAtInputStart);
        }
    }
}
