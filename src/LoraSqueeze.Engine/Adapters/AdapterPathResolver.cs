namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// Maps adapter ids and Load sources to directories, and keeps every path inside the configured adapter roots: a
/// source with a <c>..</c> segment, or one whose real path (symlinks resolved, at every level) leaves the roots, is
/// refused with <see cref="AdapterPathException"/>. Ids are plain names so they can never name a path.
/// </summary>
public sealed class AdapterPathResolver
{
    private readonly string[] _roots;

    public AdapterPathResolver(IEnumerable<string> roots)
    {
        // Roots are resolved once, through their own symlinks, so containment compares real paths on both sides.
        _roots = roots.Where(r => !string.IsNullOrWhiteSpace(r))
            .Select(r => RealPath(Path.GetFullPath(r)))
            .Distinct(StringComparer.Ordinal)
            .ToArray();
    }

    public IReadOnlyList<string> Roots => _roots;

    /// <summary>True for ids made of letters, digits, '-', '_' and '.', not starting with '.'.</summary>
    public static bool IsValidId(string id) =>
        id.Length is > 0 and <= 128 && id[0] != '.' &&
        id.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>
    /// An id as error messages show it: quoted, and cut to 64 characters with its length when longer, so an id of
    /// megabytes is never echoed whole (a reply's status detail travels in HTTP/2 trailers, which clients cap).
    /// </summary>
    public static string Quote(string id) =>
        id.Length <= 64 ? $"'{id}'" : $"'{id[..64]}…' ({id.Length} characters)";

    /// <summary>The directory of adapter <paramref name="id"/> in the first root that has one, or null.</summary>
    public string? FindById(string id)
    {
        if (!IsValidId(id)) return null;
        foreach (var root in _roots)
        {
            var dir = Path.Combine(root, id);
            if (!Directory.Exists(dir)) continue;
            // A symlinked adapter folder is fine as long as its target stays inside the roots.
            if (IsInsideRoots(RealPath(dir))) return dir;
        }
        return null;
    }

    /// <summary>
    /// Throws <see cref="AdapterPathException"/> when <c>&lt;root&gt;/&lt;id&gt;</c> exists in a root but links outside the
    /// roots: such an id is refused by name (PERMISSION_DENIED), as a source path would be, not reported as missing.
    /// </summary>
    public void EnsureIdNotOutside(string id)
    {
        if (!IsValidId(id)) return;
        foreach (var root in _roots)
        {
            var dir = Path.Combine(root, id);
            if (Directory.Exists(dir) && !IsInsideRoots(RealPath(dir)))
                throw new AdapterPathException($"adapter {Quote(id)}: its folder links outside the adapter roots");
        }
    }

    /// <summary>
    /// Throws <see cref="AdapterFormatException"/> when a file of adapter folder <paramref name="directory"/> is a link
    /// that leaves the roots: confining the folder is not enough when its <c>adapter_config.json</c> can point at
    /// <c>/etc/shadow</c> or <c>/dev/zero</c>.
    /// </summary>
    public void EnsureFilesInside(string directory)
    {
        foreach (var entry in new DirectoryInfo(directory).EnumerateFileSystemInfos())
        {
            if (entry.LinkTarget is null) continue;
            if (!IsInsideRoots(RealPath(entry.FullName)))
                throw new Core.Adapters.AdapterFormatException($"{entry.Name} links outside the adapter roots");
        }
    }

    /// <summary>
    /// Resolves a Load source: absolute, or relative to each root in turn. Throws <see cref="AdapterPathException"/>
    /// when it escapes the roots and <see cref="DirectoryNotFoundException"/> when it does not exist.
    /// </summary>
    public string ResolveSource(string source)
    {
        if (_roots.Length == 0)
            throw new AdapterPathException("the server has no adapter roots configured, so it loads no adapter by path");
        var segments = source.Split('/', '\\');
        if (segments.Any(s => s == ".."))
            throw new AdapterPathException($"source '{source}' contains '..'; give a path inside the adapter roots");
        var candidates = Path.IsPathRooted(source)
            ? [Path.GetFullPath(source)]
            : _roots.Select(r => Path.GetFullPath(Path.Combine(r, source))).ToArray();
        foreach (var candidate in candidates)
        {
            if (!Directory.Exists(candidate)) continue;
            if (!IsInsideRoots(RealPath(candidate)))
                throw new AdapterPathException($"source '{source}' resolves outside the adapter roots");
            return candidate;
        }
        if (Path.IsPathRooted(source) && !IsInsideRoots(RealPath(candidates[0])))
            throw new AdapterPathException($"source '{source}' is outside the adapter roots");
        throw new DirectoryNotFoundException($"adapter source '{source}' does not exist under the adapter roots");
    }

    private bool IsInsideRoots(string realPath) =>
        _roots.Any(root => realPath == root ||
                           realPath.StartsWith(root.EndsWith(Path.DirectorySeparatorChar) ? root : root + Path.DirectorySeparatorChar,
                               StringComparison.Ordinal));

    /// <summary>
    /// Resolves symlinks at every level of an existing path (a link in a parent folder can escape as well as one at
    /// the end). Parts that do not exist are kept as written.
    /// </summary>
    internal static string RealPath(string fullPath)
    {
        var root = Path.GetPathRoot(fullPath) ?? "/";
        var current = root;
        foreach (var part in fullPath[root.Length..].Split(Path.DirectorySeparatorChar, StringSplitOptions.RemoveEmptyEntries))
        {
            var next = Path.Combine(current, part);
            for (int hops = 0; hops < 40; hops++)
            {
                FileSystemInfo info = new DirectoryInfo(next);
                if (!info.Exists) info = new FileInfo(next);
                if (info.LinkTarget is null) break;
                next = Path.GetFullPath(info.LinkTarget, current);
            }
            current = next;
        }
        return current;
    }
}
