namespace LoraSqueeze.Model.Sampling;

/// <summary>
/// Per-sequence sampler working on one row of float32 logits copied to the host. Order of processing follows HF
/// <c>generate</c>: repetition penalty, temperature, top-k, top-p, then a draw from the sequence's own generator.
/// Temperature 0 takes the arg-max after the penalty. Ties break to the lowest token id.
/// </summary>
public sealed class TokenSampler
{
    private readonly SamplingParams _p;
    private readonly SplitMix64 _rng;
    private readonly HashSet<int> _seen;
    private readonly int[] _suppressed;
    private float[] _work = [];
    private int[] _index = [];
    private int _generated;

    /// <summary>
    /// A sampler for one sequence. <paramref name="endTokens"/> (EOS and one-token stops) are masked out while fewer than
    /// <see cref="SamplingParams.MinTokens"/> tokens have been sampled.
    /// </summary>
    public TokenSampler(SamplingParams p, IEnumerable<int> promptTokens, IEnumerable<int>? endTokens = null)
    {
        _p = p;
        _rng = new SplitMix64(unchecked((ulong)(p.Seed ?? Random.Shared.NextInt64())));
        _seen = [.. promptTokens];
        _suppressed = p.MinTokens > 0 ? [.. (endTokens ?? []).Distinct()] : [];
    }

    /// <summary>Picks the next token and returns it with its raw log-probability (log-softmax of <paramref name="logits"/>).</summary>
    public (int Token, float Logprob) Next(ReadOnlySpan<float> logits)
    {
        int v = logits.Length;
        if (_work.Length != v) { _work = new float[v]; _index = new int[v]; }
        var w = _work;
        logits.CopyTo(w);
        if (_generated++ < _p.MinTokens)
        {
            foreach (int t in _suppressed)
            {
                if ((uint)t < (uint)v) w[t] = float.NegativeInfinity;
            }
        }
        if (_p.RepetitionPenalty != 1f)
        {
            foreach (int t in _seen)
            {
                if ((uint)t < (uint)v) w[t] = w[t] > 0 ? w[t] / _p.RepetitionPenalty : w[t] * _p.RepetitionPenalty;
            }
        }
        int token = _p.Temperature == 0f ? ArgMax(w) : Draw(w);
        _seen.Add(token);
        return (token, Logprobs.At(logits, token, Logprobs.LogSumExp(logits)));
    }

    private int Draw(float[] w)
    {
        int v = w.Length;
        double max = double.NegativeInfinity;
        foreach (var x in w) max = Math.Max(max, x);
        // Unnormalised probabilities exp((l - max) / T), in place as doubles would cost memory; floats suffice here.
        double inv = 1.0 / _p.Temperature;
        for (int i = 0; i < v; i++) w[i] = (float)Math.Exp((w[i] - max) * inv);

        // Candidates in descending probability; only as many as the filters need are sorted.
        int count = v;
        var idx = _index;
        for (int i = 0; i < v; i++) idx[i] = i;
        if (_p.TopK > 0 && _p.TopK < v) count = SelectTop(w, idx, _p.TopK);
        if (_p.TopP < 1f) count = Nucleus(w, idx, count);
        double total = 0;
        for (int i = 0; i < count; i++) total += w[idx[i]];
        double u = _rng.NextDouble() * total, acc = 0;
        for (int i = 0; i < count; i++)
        {
            acc += w[idx[i]];
            if (u < acc) return idx[i];
        }
        return idx[count - 1];
    }

    /// <summary>Moves the k largest (ties: lower id first) to idx[0..k), sorted descending. Returns k.</summary>
    private static int SelectTop(float[] w, int[] idx, int k)
    {
        Array.Sort(idx, 0, w.Length, Comparer<int>.Create((a, b) => w[a] != w[b] ? w[b].CompareTo(w[a]) : a.CompareTo(b)));
        return k;
    }

    /// <summary>Keeps the smallest prefix (by descending probability) of the first <paramref name="count"/> candidates whose
    /// mass reaches TopP of their total (HF <c>TopPLogitsWarper</c>; at least one token).</summary>
    private int Nucleus(float[] w, int[] idx, int count)
    {
        double total = 0;
        for (int i = 0; i < count; i++) total += w[idx[i]];
        // Sort only candidates above a threshold that already holds the nucleus: halve it until their mass ≥ TopP·total.
        double max = 0;
        for (int i = 0; i < count; i++) max = Math.Max(max, w[idx[i]]);
        double threshold = max, target = _p.TopP * total;
        int kept;
        while (true)
        {
            double mass = 0;
            kept = 0;
            for (int i = 0; i < count; i++)
            {
                if (w[idx[i]] >= threshold) { mass += w[idx[i]]; kept++; }
            }
            if (mass >= target || kept == count) break;
            threshold /= 2;
        }
        // Partition the kept candidates to the front, then sort them descending (ties: lower id first).
        int front = 0;
        for (int i = 0; i < count; i++)
        {
            if (w[idx[i]] >= threshold) (idx[front], idx[i]) = (idx[i], idx[front++]);
        }
        Array.Sort(idx, 0, front, Comparer<int>.Create((a, b) => w[a] != w[b] ? w[b].CompareTo(w[a]) : a.CompareTo(b)));
        double acc = 0;
        for (int i = 0; i < front; i++)
        {
            acc += w[idx[i]];
            if (acc >= target) return i + 1;
        }
        return front;
    }

    private static int ArgMax(float[] w)
    {
        int best = 0;
        for (int i = 1; i < w.Length; i++) if (w[i] > w[best]) best = i;
        return best;
    }
}
