using System.Globalization;
using System.Text.RegularExpressions;

namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// Runs a pre-tokenizer regex the way HF's Oniguruma-backed <c>SysRegex</c> does, over Unicode scalars.
/// .NET regexes see UTF-16 units, so an astral letter (𝒜, 𠀀) would be two surrogates of category Cs and fall
/// out of <c>\p{L}</c>. When the text holds surrogates we match on a proxy string where each code point is one
/// BMP char of the same general category, and map the match offsets back. The proxy is exact for patterns built
/// from categories, <c>\s</c> and ASCII literals, which is what the GPT-2/Llama-3/Qwen2 patterns are.
/// .NET's <c>\s</c> is [\f\n\r\t\v\x85\p{Z}], the same set as Oniguruma's Unicode White_Space.
/// </summary>
public sealed class PatternSplitter
{
    private static readonly Lazy<char[]> CategoryProxies = new(BuildProxies);

    public PatternSplitter(string pattern)
    {
        Pattern = pattern;
        Regex = new Regex(pattern, RegexOptions.CultureInvariant | RegexOptions.Compiled);
    }

    public string Pattern { get; }

    public Regex Regex { get; }

    /// <summary>The (start, length) of every match, in UTF-16 offsets of <paramref name="text"/>.</summary>
    public List<(int Start, int Length)> Matches(string text)
    {
        var result = new List<(int, int)>();
        if (!HasSurrogates(text))
        {
            for (var m = Regex.Match(text); m.Success; m = m.NextMatch())
                if (m.Length > 0) result.Add((m.Index, m.Length));
            return result;
        }

        // proxy[k] stands for the code point starting at utf16Start[k]; utf16Start has one extra entry (the end).
        var proxy = new char[text.Length];
        var utf16Start = new List<int>(text.Length + 1);
        int count = 0;
        for (int i = 0; i < text.Length;)
        {
            utf16Start.Add(i);
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                int cp = char.ConvertToUtf32(text[i], text[i + 1]);
                proxy[count++] = CategoryProxies.Value[(int)CharUnicodeInfo.GetUnicodeCategory(cp)];
                i += 2;
            }
            else
            {
                char c = text[i];
                // A lone surrogate cannot exist in a Rust string; HF would have seen U+FFFD (category So).
                proxy[count++] = char.IsSurrogate(c) ? CategoryProxies.Value[(int)UnicodeCategory.OtherSymbol] : c;
                i++;
            }
        }
        utf16Start.Add(text.Length);
        var proxyText = new string(proxy, 0, count);
        for (var m = Regex.Match(proxyText); m.Success; m = m.NextMatch())
        {
            if (m.Length == 0) continue;
            int start = utf16Start[m.Index];
            result.Add((start, utf16Start[m.Index + m.Length] - start));
        }
        return result;
    }

    private static bool HasSurrogates(string text)
    {
        foreach (char c in text)
            if (char.IsSurrogate(c)) return true;
        return false;
    }

    // One non-ASCII, non-whitespace BMP representative per general category.
    private static char[] BuildProxies()
    {
        var proxies = new char[32];
        var found = new bool[32];
        for (int c = 0xA1; c < 0x10000; c++)
        {
            if (c is >= 0xD800 and <= 0xDFFF) continue;
            int cat = (int)CharUnicodeInfo.GetUnicodeCategory((char)c);
            if (found[cat] || char.IsWhiteSpace((char)c)) continue;
            proxies[cat] = (char)c;
            found[cat] = true;
        }
        for (int cat = 0; cat < proxies.Length; cat++)
            if (!found[cat]) proxies[cat] = '\uFFFD';
        return proxies;
    }
}
