namespace LoraSqueeze.Model.Sampling;

/// <summary>
/// Log-probabilities from one row of logits, on the host: log-softmax at a token and the k most likely tokens (OpenAI's
/// <c>logprobs</c>/<c>top_logprobs</c>). Raw distribution, before penalty, temperature and filters, as vLLM reports by
/// default. Accumulates in double so a 150k-entry vocabulary loses no precision.
/// </summary>
public static class Logprobs
{
    /// <summary>log Σ exp(logits).</summary>
    public static double LogSumExp(ReadOnlySpan<float> logits)
    {
        double max = double.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double sum = 0;
        foreach (var x in logits) sum += Math.Exp(x - max);
        return max + Math.Log(sum);
    }

    /// <summary>log p(token) given the row's <see cref="LogSumExp"/>.</summary>
    public static float At(ReadOnlySpan<float> logits, int token, double logSumExp) => (float)(logits[token] - logSumExp);

    /// <summary>The <paramref name="k"/> most likely tokens, most likely first (ties: lower id first).</summary>
    public static TokenLogprob[] Top(ReadOnlySpan<float> logits, int k, double logSumExp)
    {
        k = Math.Min(k, logits.Length);
        if (k <= 0) return [];
        // Insertion into a k-long sorted buffer: O(V·k) with k ≤ 20, no allocation per vocabulary entry.
        var ids = new int[k];
        var vals = new float[k];
        int n = 0;
        for (int i = 0; i < logits.Length; i++)
        {
            float v = logits[i];
            if (n == k && !(v > vals[k - 1])) continue;
            int j = n < k ? n++ : k - 1;
            while (j > 0 && v > vals[j - 1])
            {
                vals[j] = vals[j - 1];
                ids[j] = ids[j - 1];
                j--;
            }
            vals[j] = v;
            ids[j] = i;
        }
        var result = new TokenLogprob[n];
        for (int i = 0; i < n; i++) result[i] = new TokenLogprob(ids[i], (float)(vals[i] - logSumExp));
        return result;
    }
}
