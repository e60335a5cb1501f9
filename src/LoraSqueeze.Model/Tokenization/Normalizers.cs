using System.Text.RegularExpressions;

namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// The <c>normalizer</c> step of <c>tokenizer.json</c> (<c>tokenizers/src/normalizers/</c>). Only the types the
/// supported families use are implemented; <see cref="TokenizerLoader"/> refuses the others by name.
/// </summary>
public abstract class TextNormalizer
{
    public abstract string Normalize(string text);

    /// <summary>
    /// <c>NFC</c> (<c>normalizers/unicode.rs</c>), used by Qwen2: .NET's <see cref="string.Normalize(System.Text.NormalizationForm)"/>,
    /// which runs ICU (the build keeps globalization on for this).
    /// </summary>
    public sealed class Nfc : TextNormalizer
    {
        public override string Normalize(string text) => text.Normalize(System.Text.NormalizationForm.FormC);
    }

    /// <summary><c>Prepend</c>: adds a prefix to non-empty text (<c>normalizers/prepend.rs</c>); Llama-2/Mistral prepend "▁".</summary>
    public sealed class Prepend(string prefix) : TextNormalizer
    {
        public override string Normalize(string text) => text.Length == 0 ? text : prefix + text;
    }

    /// <summary><c>Replace</c> with a literal or regex pattern (<c>normalizers/replace.rs</c>); Llama-2 replaces " " by "▁".</summary>
    public sealed class Replace : TextNormalizer
    {
        private readonly string? _literal;
        private readonly Regex? _regex;
        private readonly string _content;

        public Replace(string? literal, Regex? regex, string content)
        {
            _literal = literal;
            _regex = regex;
            _content = content;
        }

        public override string Normalize(string text) =>
            _literal is not null ? text.Replace(_literal, _content, StringComparison.Ordinal) : _regex!.Replace(text, _content);
    }

    /// <summary><c>Lowercase</c> (<c>normalizers/utils.rs</c>): invariant, per char.</summary>
    public sealed class Lowercase : TextNormalizer
    {
        public override string Normalize(string text) => text.ToLowerInvariant();
    }

    /// <summary><c>Strip</c>: removes leading and/or trailing whitespace (<c>normalizers/strip.rs</c>).</summary>
    public sealed class Strip(bool left, bool right) : TextNormalizer
    {
        public override string Normalize(string text) => (left, right) switch
        {
            (true, true) => text.Trim(),
            (true, false) => text.TrimStart(),
            (false, true) => text.TrimEnd(),
            _ => text,
        };
    }

    /// <summary><c>Sequence</c>: applies each normalizer in order.</summary>
    public sealed class Sequence(IReadOnlyList<TextNormalizer> steps) : TextNormalizer
    {
        public override string Normalize(string text)
        {
            foreach (var step in steps) text = step.Normalize(text);
            return text;
        }
    }
}
