using System.Globalization;

namespace LoraSqueeze.Core.Units;

/// <summary>Parses sizes such as <c>512MiB</c>, <c>2G</c>, <c>1500000</c> (binary units; a bare number is bytes).</summary>
public static class ByteSize
{
    public static long Parse(string text)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(text);
        var s = text.Trim();
        int i = 0;
        while (i < s.Length && (char.IsDigit(s[i]) || s[i] == '.')) i++;
        if (i == 0 || !double.TryParse(s.AsSpan(0, i), NumberStyles.Float, CultureInfo.InvariantCulture, out var number))
            throw new FormatException($"'{text}' is not a size (examples: 512MiB, 2G, 1048576)");
        var unit = s[i..].Trim().ToUpperInvariant();
        double factor = unit switch
        {
            "" or "B" => 1,
            "K" or "KB" or "KIB" => 1L << 10,
            "M" or "MB" or "MIB" => 1L << 20,
            "G" or "GB" or "GIB" => 1L << 30,
            "T" or "TB" or "TIB" => 1L << 40,
            _ => throw new FormatException($"'{text}': unknown unit '{unit}' (use B, KiB, MiB, GiB, TiB)"),
        };
        return checked((long)Math.Round(number * factor));
    }

    public static string Format(long bytes)
    {
        string[] units = ["B", "KiB", "MiB", "GiB", "TiB"];
        double value = bytes;
        int u = 0;
        while (Math.Abs(value) >= 1024 && u < units.Length - 1)
        {
            value /= 1024;
            u++;
        }
        return u == 0 ? $"{bytes} B" : $"{value:0.##} {units[u]}";
    }
}
