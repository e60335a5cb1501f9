using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Engine.Text;

/// <summary>
/// The one text streamer: generated token ids in, text pieces out, with stop strings applied. Text comes from the
/// model's <see cref="IncrementalDecoder"/> (TGI's windowed decode: linear in the output, never a piece that ends in
/// an unfinished UTF-8 char). Text that could still grow into a stop string is held back, so a stop string never
/// reaches the client; once one appears the text is cut before it (vLLM's <c>detokenizer</c> stop handling, with
/// OpenAI's convention that the stop string itself is not returned). One instance per request; not thread-safe.
/// </summary>
public sealed class TextStreamer(IncrementalDecoder decoder, IReadOnlyList<string> stops)
{
    private string _held = "";

    /// <summary>Text sent so far.</summary>
    public string Text { get; private set; } = "";

    /// <summary>True once a stop string appeared; the text is cut before it.</summary>
    public bool Stopped { get; private set; }

    /// <summary>Adds one token; returns the new text that can be sent now (possibly empty).</summary>
    public string Push(int tokenId)
    {
        if (Stopped) return "";
        _held += decoder.Push(tokenId);
        // Nothing emitted can start a stop string (such a tail is held), so a stop can only begin inside _held.
        int cut = -1;
        foreach (var stop in stops)
        {
            int at = _held.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            Stopped = true;
            return Emit(cut);
        }
        int safe = _held.Length;
        foreach (var stop in stops)
        {
            for (int k = Math.Min(stop.Length - 1, _held.Length); k > 0; k--)
            {
                if (string.CompareOrdinal(_held, _held.Length - k, stop, 0, k) == 0)
                {
                    safe = Math.Min(safe, _held.Length - k);
                    break;
                }
            }
        }
        return Emit(safe);
    }

    /// <summary>Whatever was held back, at the end of generation (not after a stop).</summary>
    public string Flush()
    {
        if (Stopped) return "";
        _held += decoder.Flush();
        return Emit(_held.Length);
    }

    private string Emit(int length)
    {
        if (length == 0) return "";
        var piece = _held[..length];
        _held = _held[length..];
        Text += piece;
        return piece;
    }
}
