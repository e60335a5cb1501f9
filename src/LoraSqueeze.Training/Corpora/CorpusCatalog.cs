using System.Diagnostics;
using LoraSqueeze.Training.Data;

namespace LoraSqueeze.Training.Corpora;

/// <summary>A named corpus from an installed Debian package, and how to read it into examples.</summary>
public sealed record CorpusSource(string Name, string Description, string DebianPackages, Func<IEnumerable<TrainingExample>> Read);

/// <summary>
/// The corpora the demo and the experiment use, all read from Debian packages on this machine (nothing downloaded):
/// the King James Bible (bible-kjv, bible-kjv-text; public domain), fortune(6) cookies in English, German, Spanish
/// and Italian (fortune-mod, fortunes, fortunes-de, fortunes-es, fortunes-it), BOFH excuses (fortunes-bofh-excuses),
/// The Devil's Dictionary (dict-devil; Bierce 1911, public domain) and the Jargon File (dict-jargon).
/// </summary>
public static class CorpusCatalog
{
    public const string FortuneRoot = "/usr/share/games/fortunes";
    public const string DictdRoot = "/usr/share/dictd";

    /// <summary>English fortune files with prose (no ASCII art, nothing from off/).</summary>
    private static readonly string[] EnglishFortunes =
    [
        "fortunes", "wisdom", "literature", "humorists", "people", "platitudes", "work", "science", "men-women", "love",
        "education", "politics", "law", "food", "pets", "sports", "medicine", "miscellaneous",
    ];

    public static IReadOnlyList<CorpusSource> All { get; } =
    [
        new("kjv", "King James Bible, one example per chapter", "bible-kjv bible-kjv-text", ReadKjv),
        new("fortunes-en", "English fortune cookies", "fortune-mod fortunes", () => Fortunes(EnglishFortunes.Select(f => Path.Combine(FortuneRoot, f)))),
        new("fortunes-de", "German fortune cookies", "fortunes-de", () => Fortunes(FilesIn(Path.Combine(FortuneRoot, "de"), exclude: ["asciiart"]))),
        new("fortunes-es", "Spanish fortune cookies", "fortunes-es", () => Fortunes(FilesIn(Path.Combine(FortuneRoot, "es"), exclude: ["off"]))),
        new("fortunes-it", "Italian fortune cookies", "fortunes-it", () => Fortunes(FilesIn(Path.Combine(FortuneRoot, "it"), exclude: ["banner"]))),
        new("bofh", "Bastard Operator From Hell excuses", "fortunes-bofh-excuses", ReadBofh),
        new("devil", "The Devil's Dictionary (Bierce), first paragraph of each entry", "dict-devil", ReadDevil),
        new("jargon", "The Jargon File, first paragraph of each entry", "dict-jargon", ReadJargon),
    ];

    public static CorpusSource Get(string name) =>
        All.FirstOrDefault(c => c.Name == name)
        ?? throw new ArgumentException($"unknown corpus '{name}'; known: {string.Join(", ", All.Select(c => c.Name))}");

    private static IEnumerable<string> FilesIn(string dir, string[] exclude)
    {
        if (!Directory.Exists(dir)) throw Missing(dir);
        return Directory.GetFiles(dir)
            .Where(f => !f.EndsWith(".dat", StringComparison.Ordinal) && !f.EndsWith(".u8", StringComparison.Ordinal)
                        && !f.EndsWith("-pre", StringComparison.Ordinal)
                        && !exclude.Contains(Path.GetFileName(f)))
            .Order(StringComparer.Ordinal);
    }

    private static IEnumerable<TrainingExample> Fortunes(IEnumerable<string> files)
    {
        foreach (var f in files)
        {
            if (!File.Exists(f)) throw Missing(f);
            foreach (var entry in FortuneFile.Read(f))
            {
                if (entry.Length is < 20 or > 500 || TextCleanup.LooksLikeArt(entry)) continue;
                yield return new TrainingExample("", entry);
            }
        }
    }

    private static IEnumerable<TrainingExample> ReadBofh()
    {
        var path = Path.Combine(FortuneRoot, "bofh-excuses");
        if (!File.Exists(path)) throw Missing(path);
        foreach (var entry in FortuneFile.Read(path))
        {
            // "BOFH excuse #12:\n\ndry joints on cable plug": the number is noise, the excuse is the style.
            var lines = entry.Split('\n', 2);
            var excuse = lines.Length > 1 ? TextCleanup.Unwrap(lines[1]) : "";
            if (excuse.Length > 0) yield return new TrainingExample("", "BOFH excuse: " + excuse);
        }
    }

    private static IEnumerable<TrainingExample> ReadDevil()
    {
        foreach (var (_, body) in DictdFile.Read(Dict("devil.index"), Dict("devil.dict.dz")))
        {
            var first = TextCleanup.Paragraphs(body).FirstOrDefault();
            if (first is { Length: > 10 }) yield return new TrainingExample("", TextCleanup.Truncate(first, 600));
        }
    }

    private static IEnumerable<TrainingExample> ReadJargon()
    {
        foreach (var (head, body) in DictdFile.Read(Dict("jargon.index"), Dict("jargon.dict.dz")))
        {
            // Entry layout: headword line, pronunciation/part-of-speech line(s), blank, indented paragraphs.
            var paragraphs = TextCleanup.Paragraphs(body);
            if (paragraphs.Count < 2) continue;
            var definition = paragraphs[1];
            if (definition.Length < 20) continue;
            yield return new TrainingExample("", TextCleanup.Truncate($"{head}: {definition}", 600));
        }
    }

    private static List<TrainingExample> ReadKjv()
    {
        var psi = new ProcessStartInfo("bible", ["-f", "Gen1:1-Rev22:21"]) { RedirectStandardOutput = true, UseShellExecute = false };
        Process proc;
        try
        {
            proc = Process.Start(psi) ?? throw Missing("bible");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            throw Missing("the bible command");
        }
        var chapters = new List<TrainingExample>();
        string? current = null;
        var verses = new List<string>();
        string? line;
        while ((line = proc.StandardOutput.ReadLine()) is not null)
        {
            // "Ge1:1 In the beginning ..." — book abbreviation + chapter:verse, a space, the verse.
            int space = line.IndexOf(' ', StringComparison.Ordinal);
            int colon = line.IndexOf(':', StringComparison.Ordinal);
            if (space < 0 || colon < 0 || colon > space) continue;
            var chapter = line[..colon];
            if (chapter != current && verses.Count > 0)
            {
                chapters.Add(new TrainingExample("", string.Join(' ', verses)));
                verses.Clear();
            }
            current = chapter;
            verses.Add(line[(space + 1)..].Trim());
        }
        proc.WaitForExit();
        if (verses.Count > 0) chapters.Add(new TrainingExample("", string.Join(' ', verses)));
        if (chapters.Count < 1000) throw new InvalidDataException($"bible printed only {chapters.Count} chapters; is bible-kjv-text installed?");
        return chapters;
    }

    private static string Dict(string file)
    {
        var p = Path.Combine(DictdRoot, file);
        return File.Exists(p) ? p : throw Missing(p);
    }

    private static FileNotFoundException Missing(string what) =>
        new($"{what} not found: install the Debian packages listed by 'lorasqueeze corpus --list' (apt-get install bible-kjv fortune-mod fortunes fortunes-de fortunes-es fortunes-it fortunes-bofh-excuses dict-devil dict-jargon)");
}
