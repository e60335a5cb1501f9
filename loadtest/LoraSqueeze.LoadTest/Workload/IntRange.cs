using System.Globalization;

namespace LoraSqueeze.LoadTest.Workload;

/// <summary>A uniform integer distribution on [Min, Max], as S-LoRA draws input and output lengths (U[8, 512], §7.1).</summary>
public readonly record struct IntRange(int Min, int Max)
{
    public int Sample(Random random) => random.Next(Min, Max + 1);

    public double Mean => (Min + Max) / 2.0;

    /// <summary>Parses <c>N</c> or <c>MIN..MAX</c>.</summary>
    public static IntRange Parse(string text)
    {
        var parts = text.Split("..", StringSplitOptions.TrimEntries);
        int min = int.Parse(parts[0], CultureInfo.InvariantCulture);
        int max = parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : min;
        if (parts.Length > 2 || min < 1 || max < min) throw new FormatException($"bad range '{text}' (expected N or MIN..MAX with 1 ≤ MIN ≤ MAX)");
        return new IntRange(min, max);
    }

    public override string ToString() => Min == Max ? Min.ToString(CultureInfo.InvariantCulture) : $"{Min}..{Max}";
}
