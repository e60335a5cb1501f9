using System.Globalization;
using System.Text;

namespace LoraSqueeze.Engine.Adapters;

/// <summary>A failed adapter load, remembered with the fingerprint of the files it read.</summary>
internal sealed record FailedLoad(string Files, AdapterLoadException Error, DateTime At)
{
    /// <summary>How long a failure is answered from memory while the files stay the same.</summary>
    public static readonly TimeSpan Memory = TimeSpan.FromMinutes(5);

    /// <summary>Names, sizes and modification times of the folder's files (not their contents: no read).</summary>
    public static string Fingerprint(string directory)
    {
        if (!Directory.Exists(directory)) return "";
        var sb = new StringBuilder();
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles().OrderBy(f => f.Name, StringComparer.Ordinal))
            sb.Append(CultureInfo.InvariantCulture, $"{file.Name}:{file.Length}:{file.LastWriteTimeUtc.Ticks};");
        return sb.ToString();
    }
}
