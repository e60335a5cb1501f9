using System.Text;
using System.Text.RegularExpressions;

namespace LoraSqueeze.Training.Corpora;

/// <summary>Small normalisations shared by the corpus readers.</summary>
public static partial class TextCleanup
{
    /// <summary>Joins hard-wrapped lines of one paragraph into one line and squeezes runs of spaces.</summary>
    public static string Unwrap(string paragraph) => Spaces().Replace(paragraph.Replace('\n', ' '), " ").Trim();

    /// <summary>The paragraphs of a text (blank-line separated), each unwrapped.</summary>
    public static List<string> Paragraphs(string text) =>
        BlankLines().Split(text.Replace("\r", "", StringComparison.Ordinal)).Select(Unwrap).Where(p => p.Length > 0).ToList();

    /// <summary>True for text that is mostly drawing characters (ASCII art is no use as language data).</summary>
    public static bool LooksLikeArt(string text)
    {
        int letters = text.Count(char.IsLetter);
        return letters < text.Length * 0.5;
    }

    /// <summary>Cuts at the last sentence end or space before <paramref name="max"/> characters.</summary>
    public static string Truncate(string text, int max)
    {
        if (text.Length <= max) return text;
        var cut = text[..max];
        int end = cut.LastIndexOfAny(['.', '!', '?']);
        if (end > max / 2) return cut[..(end + 1)];
        int space = cut.LastIndexOf(' ');
        return (space > 0 ? cut[..space] : cut).TrimEnd() + "…";
    }

    internal static string Collapse(IEnumerable<string> parts)
    {
        var sb = new StringBuilder();
        foreach (var p in parts) sb.Append(p).Append(' ');
        return sb.ToString().Trim();
    }

    [GeneratedRegex(@"[ \t]+")]
    private static partial Regex Spaces();

    [GeneratedRegex(@"\n\s*\n")]
    private static partial Regex BlankLines();
}
