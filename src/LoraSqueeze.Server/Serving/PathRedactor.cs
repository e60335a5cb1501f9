using LoraSqueeze.Server.Hosting;

namespace LoraSqueeze.Server.Serving;

/// <summary>
/// Keeps the server's own file layout out of what callers see: error details, and the sources Adapters.List and Get
/// report, show adapter paths relative to their adapter root and the model folder as <c>&lt;model&gt;</c>. Callers
/// of Generate need no token, and absolute paths tell them where the server keeps its files.
/// </summary>
internal sealed class PathRedactor(ServerOptions options)
{
    // Longest first, so a root inside another is replaced by its own name.
    private readonly (string Prefix, string Replacement)[] _rules = options.AdapterRoots
        .Select(r => Path.TrimEndingDirectorySeparator(Path.GetFullPath(r)))
        .Select(r => (r + Path.DirectorySeparatorChar, ""))
        .Append((Path.TrimEndingDirectorySeparator(Path.GetFullPath(options.ModelPath.Length == 0 ? "/" : options.ModelPath)), "<model>"))
        .Where(r => r.Item1.Length > 1)
        .OrderByDescending(r => r.Item1.Length)
        .ToArray();

    public string Redact(string text)
    {
        foreach (var (prefix, replacement) in _rules) text = text.Replace(prefix, replacement, StringComparison.Ordinal);
        return text;
    }
}
