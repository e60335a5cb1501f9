using System.IO.Compression;
using System.Text;

namespace LoraSqueeze.Training.Corpora;

/// <summary>
/// A dictd database (dictfmt): <c>NAME.index</c> lines "headword TAB offset TAB length" with offset and length in
/// dictd's base-64 digits (A–Z a–z 0–9 + /, most significant first), into the gunzipped <c>NAME.dict.dz</c>
/// (dictzip is gzip with random-access metadata, so a plain gzip reader decompresses it). Entries whose headword starts
/// with "00database" are the database's own metadata and are skipped.
/// </summary>
public static class DictdFile
{
    private const string Digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    public static IEnumerable<(string Headword, string Body)> Read(string indexPath, string dictPath)
    {
        byte[] data;
        using (var gz = new GZipStream(File.OpenRead(dictPath), CompressionMode.Decompress))
        using (var ms = new MemoryStream())
        {
            gz.CopyTo(ms);
            data = ms.ToArray();
        }
        foreach (var line in File.ReadLines(indexPath))
        {
            var parts = line.Split('\t');
            if (parts.Length < 3 || parts[0].StartsWith("00database", StringComparison.Ordinal)) continue;
            long offset = Decode(parts[1]), length = Decode(parts[2]);
            if (offset < 0 || length < 0 || offset + length > data.Length)
                throw new InvalidDataException($"{indexPath}: entry '{parts[0]}' points outside {dictPath}");
            yield return (parts[0], Encoding.UTF8.GetString(data, (int)offset, (int)length));
        }
    }

    internal static long Decode(string digits)
    {
        long v = 0;
        foreach (char c in digits)
        {
            int d = Digits.IndexOf(c, StringComparison.Ordinal);
            if (d < 0) throw new InvalidDataException($"'{digits}' is not a dictd base-64 number");
            v = v * 64 + d;
        }
        return v;
    }
}
