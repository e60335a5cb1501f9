using System.Globalization;
using System.Text;

namespace LoraSqueeze.Core.Templating;

/// <summary>
/// Splits a template into text and tag tokens, applying Jinja's whitespace control exactly as jinja2's lexer does
/// (jinja2/lexer.py <c>tokeniter</c>): <c>{%-</c>/<c>-%}</c> strip all whitespace on that side; with
/// <c>lstrip_blocks</c> the spaces and tabs before a block or comment tag at the start of a line go, unless the tag
/// opens with <c>+</c>; with <c>trim_blocks</c> one newline after a block or comment tag goes, unless it closes with
/// <c>+</c>. Hugging Face renders chat templates with both on (transformers, <c>_compile_jinja_template</c>).
/// Written by hand: no Jinja library is in the package registry this project builds from.
/// </summary>
internal sealed class JinjaLexer(string source, bool trimBlocks, bool lstripBlocks)
{
    private static readonly string[] Operators =
        ["//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "=", "(", ")", "[", "]", "{", "}", ",", ".", ":", "|"];

    private readonly List<JinjaToken> _tokens = [];
    private int _pos;
    private int _line = 1;
    private bool _lineStarting = true;

    public List<JinjaToken> Tokenize()
    {
        while (_pos < source.Length)
        {
            int tag = FindTagStart(_pos);
            string text = source[_pos..(tag < 0 ? source.Length : tag)];
            if (tag < 0)
            {
                Emit(JinjaTokenKind.Text, text);
                _pos = source.Length;
                break;
            }
            char kind = source[tag + 1];                                   // '{', '%' or '#'
            char sign = tag + 2 < source.Length ? source[tag + 2] : '\0';
            if (sign == '-')
            {
                text = text.TrimEnd();
            }
            else if (sign != '+' && lstripBlocks && kind != '{')
            {
                int lineStart = text.LastIndexOf('\n') + 1;
                if ((lineStart > 0 || _lineStarting) && text.Length > lineStart && IsBlank(text.AsSpan(lineStart)))
                    text = text[..lineStart];
            }
            if (text.Length > 0) Emit(JinjaTokenKind.Text, text);
            Advance(tag);
            int inner = tag + 2 + (sign is '-' or '+' ? 1 : 0);
            switch (kind)
            {
                case '#': SkipComment(inner); break;
                case '{': LexTag(inner, JinjaTokenKind.VariableStart, JinjaTokenKind.VariableEnd, "}}"); break;
                default: LexTag(inner, JinjaTokenKind.BlockStart, JinjaTokenKind.BlockEnd, "%}"); break;
            }
        }
        _tokens.Add(new JinjaToken(JinjaTokenKind.End, "", _line));
        return _tokens;
    }

    private int FindTagStart(int from)
    {
        for (int i = source.IndexOf('{', from); i >= 0 && i + 1 < source.Length; i = source.IndexOf('{', i + 1))
        {
            char c = source[i + 1];
            if (c is '{' or '%' or '#') return i;
        }
        return -1;
    }

    private static bool IsBlank(ReadOnlySpan<char> s)
    {
        foreach (char c in s) if (!char.IsWhiteSpace(c)) return false;
        return true;
    }

    private void Emit(JinjaTokenKind kind, string value)
    {
        _tokens.Add(new JinjaToken(kind, value, _line));
    }

    /// <summary>Moves to <paramref name="to"/>, counting lines.</summary>
    private void Advance(int to)
    {
        for (int i = _pos; i < to; i++) if (source[i] == '\n') _line++;
        _pos = to;
    }

    private void SkipComment(int inner)
    {
        int end = source.IndexOf("#}", inner, StringComparison.Ordinal);
        if (end < 0) throw new JinjaException($"line {_line}: unclosed comment");
        bool strip = end > inner && source[end - 1] == '-';
        bool keep = end > inner && source[end - 1] == '+';
        Advance(end + 2);
        AfterTagEnd(strip, keep);
    }

    /// <summary>Whitespace control after a tag's end delimiter; sets whether the next text starts a line.</summary>
    private void AfterTagEnd(bool strip, bool keep, bool isBlock = true)
    {
        int after = _pos;
        if (strip)
        {
            while (after < source.Length && char.IsWhiteSpace(source[after])) after++;
        }
        else if (isBlock && trimBlocks && !keep && after < source.Length && source[after] == '\n')
        {
            after++;
        }
        Advance(after);
        _lineStarting = _pos > 0 && source[_pos - 1] == '\n';
    }

    private void LexTag(int inner, JinjaTokenKind start, JinjaTokenKind end, string closer)
    {
        Emit(start, start == JinjaTokenKind.VariableStart ? "{{" : "{%");
        Advance(inner);
        int depth = 0;   // open brackets: a "}}" inside a dict literal does not close the tag
        while (true)
        {
            while (_pos < source.Length && char.IsWhiteSpace(source[_pos])) Advance(_pos + 1);
            if (_pos >= source.Length) throw new JinjaException($"line {_line}: unclosed tag, expected '{closer}'");
            char c = source[_pos];
            if (depth == 0 && (c is '-' or '+') && string.CompareOrdinal(source, _pos + 1, closer, 0, 2) == 0)
            {
                Emit(end, closer);
                Advance(_pos + 3);
                AfterTagEnd(c == '-', c == '+', end == JinjaTokenKind.BlockEnd);
                if (start == JinjaTokenKind.BlockStart) MaybeRaw();
                return;
            }
            if (depth == 0 && string.CompareOrdinal(source, _pos, closer, 0, 2) == 0)
            {
                Emit(end, closer);
                Advance(_pos + 2);
                AfterTagEnd(false, false, end == JinjaTokenKind.BlockEnd);
                if (start == JinjaTokenKind.BlockStart) MaybeRaw();
                return;
            }
            if (char.IsLetter(c) || c == '_')
            {
                int s = _pos;
                while (_pos < source.Length && (char.IsLetterOrDigit(source[_pos]) || source[_pos] == '_')) _pos++;
                Emit(JinjaTokenKind.Name, source[s.._pos]);
            }
            else if (char.IsAsciiDigit(c))
            {
                LexNumber();
            }
            else if (c is '\'' or '"')
            {
                LexString(c);
            }
            else
            {
                string? op = Operators.FirstOrDefault(o => string.CompareOrdinal(source, _pos, o, 0, o.Length) == 0)
                    ?? throw new JinjaException($"line {_line}: unexpected character '{c}'");
                if (op is "(" or "[" or "{") depth++;
                else if (op is ")" or "]" or "}") depth = Math.Max(0, depth - 1);
                Emit(JinjaTokenKind.Operator, op);
                _pos += op.Length;
            }
        }
    }

    /// <summary>After <c>{% raw %}</c>: everything up to <c>{% endraw %}</c> is text.</summary>
    private void MaybeRaw()
    {
        int n = _tokens.Count;
        if (n < 3 || !_tokens[n - 2].IsName("raw") || _tokens[n - 3].Kind != JinjaTokenKind.BlockStart) return;
        _tokens.RemoveRange(n - 3, 3);
        var endRaw = System.Text.RegularExpressions.Regex.Match(source[_pos..], @"\{%(-?)\s*endraw\s*(-?)%\}");
        if (!endRaw.Success) throw new JinjaException($"line {_line}: unclosed raw block");
        string text = source.Substring(_pos, endRaw.Index);
        if (endRaw.Groups[1].Value == "-") text = text.TrimEnd();
        Emit(JinjaTokenKind.Text, text);
        Advance(_pos + endRaw.Index + endRaw.Length);
        AfterTagEnd(endRaw.Groups[2].Value == "-", false);
    }

    private void LexNumber()
    {
        int s = _pos;
        while (_pos < source.Length && (char.IsAsciiDigit(source[_pos]) || source[_pos] == '_')) _pos++;
        bool isFloat = false;
        if (_pos + 1 < source.Length && source[_pos] == '.' && char.IsAsciiDigit(source[_pos + 1]))
        {
            isFloat = true;
            _pos++;
            while (_pos < source.Length && char.IsAsciiDigit(source[_pos])) _pos++;
        }
        if (_pos < source.Length && source[_pos] is 'e' or 'E')
        {
            int e = _pos + 1;
            if (e < source.Length && source[e] is '+' or '-') e++;
            if (e < source.Length && char.IsAsciiDigit(source[e]))
            {
                isFloat = true;
                _pos = e;
                while (_pos < source.Length && char.IsAsciiDigit(source[_pos])) _pos++;
            }
        }
        Emit(isFloat ? JinjaTokenKind.Float : JinjaTokenKind.Integer, source[s.._pos].Replace("_", "", StringComparison.Ordinal));
    }

    /// <summary>A Python string literal with its backslash escapes.</summary>
    private void LexString(char quote)
    {
        var sb = new StringBuilder();
        int i = _pos + 1;
        while (true)
        {
            if (i >= source.Length) throw new JinjaException($"line {_line}: unterminated string");
            char c = source[i];
            if (c == quote) break;
            if (c == '\\' && i + 1 < source.Length)
            {
                char e = source[++i];
                switch (e)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case '0': sb.Append('\0'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case '\\': sb.Append('\\'); break;
                    case '\'': sb.Append('\''); break;
                    case '"': sb.Append('"'); break;
                    case '\n': break;
                    case 'u' when i + 4 < source.Length:
                        sb.Append((char)int.Parse(source.AsSpan(i + 1, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 4;
                        break;
                    case 'x' when i + 2 < source.Length:
                        sb.Append((char)int.Parse(source.AsSpan(i + 1, 2), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        i += 2;
                        break;
                    default: sb.Append('\\').Append(e); break;
                }
                i++;
                continue;
            }
            sb.Append(c);
            i++;
        }
        Emit(JinjaTokenKind.String, sb.ToString());
        Advance(i + 1);
    }
}
