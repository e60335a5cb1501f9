namespace LoraSqueeze.Server.Grpc;

/// <summary>
/// Turns generated token ids into text pieces for streaming, and applies stop strings. Decoding the whole completion
/// each time and emitting the new suffix is exact for any tokenizer (byte-level BPE splits characters across tokens);
/// a piece ending in U+FFFD is an unfinished UTF-8 sequence and is held back until the next token completes it. Text
/// that could still grow into a stop string is held back too, so a stop string never reaches the client.
/// </summary>
internal sealed class TextStream(Func<IReadOnlyList<int>, string> decode, IReadOnlyList<string> stops)
{
    private readonly List<int> _tokens = [];
    private int _emitted;

    /// <summary>Text sent so far.</summary>
    public string Text { get; private set; } = "";

    /// <summary>True once a stop string appeared; the text is cut before it.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds one token; returns the new text that can be sent now (possibly empty).</summary>
    public string Push(int tokenId)
    {
        _tokens.Add(tokenId);
        var full = decode(_tokens);
        foreach (var stop in stops)
        {
            int at = full.IndexOf(stop, Math.Max(0, _emitted - stop.Length + 1), StringComparison.Ordinal);
            if (at >= 0)
            {
                Stopped = true;
                return Emit(full, Math.Max(at, _emitted));
            }
        }
        int safe = full.Length;
        if (safe > 0 && full[safe - 1] == '\uFFFD') safe--;
        foreach (var stop in stops)
        {
            for (int k = Math.Min(stop.Length - 1, full.Length); k > 0; k--)
            {
                if (string.CompareOrdinal(full, full.Length - k, stop, 0, k) == 0)
                {
                    safe = Math.Min(safe, full.Length - k);
                    break;
                }
            }
        }
        return Emit(full, Math.Max(safe, _emitted));
    }

    /// <summary>Whatever was held back, at the end of generation (not after a stop).</summary>
    public string Flush()
    {
        if (Stopped) return "";
        return Emit(decode(_tokens), null);
    }

    private string Emit(string full, int? end)
    {
        int upTo = end ?? full.Length;
        if (upTo <= _emitted) return "";
        var piece = full[_emitted..upTo];
        _emitted = upTo;
        Text += piece;
        return piece;
    }
}
