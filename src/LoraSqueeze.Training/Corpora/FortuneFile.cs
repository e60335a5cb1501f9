using System.Text;

namespace LoraSqueeze.Training.Corpora;

/// <summary>
/// The fortune(6) file format: entries separated by lines holding a single <c>%</c> (strfile's delimiter). Files are
/// UTF-8 (Debian ships <c>.u8</c> links for the converted ones); trailing whitespace is trimmed.
/// </summary>
public static class FortuneFile
{
    public static IEnumerable<string> Read(string path)
    {
        var sb = new StringBuilder();
        foreach (var line in File.ReadLines(path, Encoding.UTF8))
        {
            if (line == "%")
            {
                if (sb.Length > 0) yield return sb.ToString().TrimEnd();
                sb.Clear();
            }
            else
            {
                sb.Append(line.TrimEnd()).Append('\n');
            }
        }
        if (sb.ToString().Trim().Length > 0) yield return sb.ToString().TrimEnd();
    }
}
