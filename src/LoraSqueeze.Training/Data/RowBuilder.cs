namespace LoraSqueeze.Training.Data;

/// <summary>
/// Turns examples into fixed-length rows. Plain-text examples are framed as BOS + text + EOS and packed back to back
/// into one stream that is cut into windows of seqLen + 1 tokens with stride seqLen, so every token is a target
/// exactly once (nanoGPT's packing, without the random offsets so that a data position can be saved and resumed).
/// Prompt/completion examples get one row each (BOS + prompt + completion + EOS, cut to seqLen + 1 tokens keeping
/// the start, padded with PadId), with the loss only on completion and EOS targets, so a prompt never leaks into
/// another example's window.
/// </summary>
public static class RowBuilder
{
    public static List<TokenRow> Build(IReadOnlyList<TrainingExample> examples, TokenEncoder encoder, int seqLen)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(seqLen, 2);
        var rows = new List<TokenRow>();
        var stream = new List<int>();
        foreach (var e in examples)
        {
            if (e.IsPlainText)
            {
                if (encoder.BosId is int bos) stream.Add(bos);
                stream.AddRange(encoder.Encode(e.Completion));
                stream.Add(encoder.EosId);
            }
            else
            {
                rows.Add(PromptRow(e, encoder, seqLen));
            }
        }
        int window = seqLen + 1;
        for (int start = 0; start + window <= stream.Count; start += seqLen)
        {
            var ids = stream.GetRange(start, window).ToArray();
            var mask = new bool[window];
            Array.Fill(mask, true);
            mask[0] = false; // position 0 is never a target
            rows.Add(new TokenRow(ids, mask));
        }
        // A stream shorter than one window still yields one (padded) row rather than nothing.
        if (stream.Count > 1 && stream.Count < window) rows.Add(Padded(stream.ToArray(), 1, window, encoder.PadId));
        return rows;
    }

    private static TokenRow PromptRow(TrainingExample e, TokenEncoder encoder, int seqLen)
    {
        var ids = new List<int>();
        if (encoder.BosId is int bos) ids.Add(bos);
        ids.AddRange(encoder.Encode(e.Prompt));
        int firstTarget = ids.Count; // the first completion token is the first counted target
        ids.AddRange(encoder.Encode(e.Completion));
        ids.Add(encoder.EosId);
        return Padded(ids.ToArray(), firstTarget, seqLen + 1, encoder.PadId);
    }

    /// <summary>Cuts or pads <paramref name="ids"/> to <paramref name="window"/>; targets from <paramref name="firstTarget"/> on count.</summary>
    private static TokenRow Padded(int[] ids, int firstTarget, int window, int padId)
    {
        var outIds = new int[window];
        var mask = new bool[window];
        Array.Fill(outIds, padId);
        int n = Math.Min(ids.Length, window);
        Array.Copy(ids, outIds, n);
        for (int t = Math.Max(1, firstTarget); t < n; t++) mask[t] = true;
        return new TokenRow(outIds, mask);
    }
}
