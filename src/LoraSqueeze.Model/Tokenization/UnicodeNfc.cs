using System.Text;

namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// Unicode NFC (UAX #15: canonical decomposition, canonical ordering, canonical composition) in managed code.
/// The project runs with <c>InvariantGlobalization</c>, where <see cref="string.Normalize()"/> leaves text as is,
/// yet Qwen2's tokenizer.json starts with an NFC normalizer. Tables come from gen_unicode_tables.py; Hangul
/// syllables are handled algorithmically.
/// </summary>
public static class UnicodeNfc
{
    private const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7;
    private const int LCount = 19, VCount = 21, TCount = 28, NCount = VCount * TCount, SCount = LCount * NCount;

    private static readonly Lazy<Tables> Data = new(BuildTables);

    /// <summary>The NFC form of <paramref name="text"/>; returns the same instance when nothing can change.</summary>
    public static string Normalize(string text)
    {
        // Every char below U+0300 is NFC-stable: no decomposition and no combining class.
        bool maybeChanges = false;
        foreach (char c in text)
        {
            if (c >= '\u0300')
            {
                maybeChanges = true;
                break;
            }
        }
        if (!maybeChanges) return text;

        var tables = Data.Value;
        var cps = new List<int>(text.Length);
        foreach (var rune in text.EnumerateRunes()) Decompose(rune.Value, cps, tables);
        SortCombiningMarks(cps, tables);
        var composed = Compose(cps, tables);

        var sb = new StringBuilder(text.Length);
        foreach (int cp in composed) sb.Append(char.ConvertFromUtf32(cp));
        var result = sb.ToString();
        return result == text ? text : result;
    }

    private static void Decompose(int cp, List<int> output, Tables tables)
    {
        int s = cp - SBase;
        if (s is >= 0 and < SCount)
        {
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if (tables.Decompositions.TryGetValue(cp, out var parts)) output.AddRange(parts);
        else output.Add(cp);
    }

    private static void SortCombiningMarks(List<int> cps, Tables tables)
    {
        // Stable insertion sort of each run of non-starters by combining class (runs are short).
        for (int i = 1; i < cps.Count; i++)
        {
            int cc = Ccc(cps[i], tables);
            if (cc == 0) continue;
            int j = i;
            while (j > 0 && Ccc(cps[j - 1], tables) > cc)
            {
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
                j--;
            }
        }
    }

    private static List<int> Compose(List<int> cps, Tables tables)
    {
        var output = new List<int>(cps.Count);
        int starter = -1;
        int lastCcc = 0;
        foreach (int cp in cps)
        {
            int cc = Ccc(cp, tables);
            if (starter >= 0)
            {
                bool adjacent = output.Count - 1 == starter;
                bool unblocked = adjacent || (lastCcc != 0 && lastCcc < cc);
                if (unblocked && TryCompose(output[starter], cp, tables, out int composite))
                {
                    output[starter] = composite;
                    continue;
                }
            }
            if (cc == 0)
            {
                starter = output.Count;
                lastCcc = 0;
            }
            else
            {
                lastCcc = cc;
            }
            output.Add(cp);
        }
        return output;
    }

    private static bool TryCompose(int first, int second, Tables tables, out int composite)
    {
        int l = first - LBase, v = second - VBase;
        if (l is >= 0 and < LCount && v is >= 0 and < VCount)
        {
            composite = SBase + (l * VCount + v) * TCount;
            return true;
        }
        int s = first - SBase, t = second - TBase;
        if (s is >= 0 and < SCount && s % TCount == 0 && t is > 0 and < TCount)
        {
            composite = first + t;
            return true;
        }
        return tables.Compositions.TryGetValue(((long)first << 21) | (uint)second, out composite);
    }

    private static int Ccc(int cp, Tables tables) => tables.CombiningClasses.TryGetValue(cp, out byte cc) ? cc : 0;

    private sealed record Tables(Dictionary<int, int[]> Decompositions, Dictionary<int, byte> CombiningClasses, Dictionary<long, int> Compositions);

    private static Tables BuildTables()
    {
        var decompositions = new Dictionary<int, int[]>();
        var d = UnicodeNormalizationData.Decompositions;
        for (int i = 0; i < d.Length;)
        {
            int cp = d[i], n = d[i + 1];
            decompositions[cp] = d.AsSpan(i + 2, n).ToArray();
            i += 2 + n;
        }
        var ccc = new Dictionary<int, byte>();
        var c = UnicodeNormalizationData.CombiningClasses;
        for (int i = 0; i < c.Length; i += 2) ccc[c[i]] = (byte)c[i + 1];
        var compositions = new Dictionary<long, int>();
        var m = UnicodeNormalizationData.Compositions;
        for (int i = 0; i < m.Length; i += 3) compositions[((long)m[i] << 21) | (uint)m[i + 1]] = m[i + 2];
        return new Tables(decompositions, ccc, compositions);
    }
}
