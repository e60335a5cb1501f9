using LoraSqueeze.Model.Sampling;

namespace LoraSqueeze.Model.Tests;

public class SamplerTests
{
    private static readonly float[] Logits = [1.0f, 3.0f, 2.5f, -1.0f, 0.5f, 2.9f];

    [Fact]
    public void GreedyTopK1AndTinyTopPAllPickTheArgmax()
    {
        Assert.Equal(1, new TokenSampler(SamplingParams.Greedy(), []).Next(Logits).Token);
        for (int seed = 0; seed < 20; seed++)
        {
            Assert.Equal(1, new TokenSampler(new SamplingParams(TopK: 1, Seed: seed), []).Next(Logits).Token);
            Assert.Equal(1, new TokenSampler(new SamplingParams(TopP: 0.01f, Seed: seed), []).Next(Logits).Token);
        }
    }

    [Fact]
    public void LogprobIsTheRawLogSoftmax()
    {
        var (token, logprob) = new TokenSampler(SamplingParams.Greedy(), []).Next(Logits);
        double z = Logits.Sum(l => Math.Exp(l));
        Assert.Equal(Math.Log(Math.Exp(Logits[token]) / z), logprob, 5);
    }

    [Fact]
    public void RepetitionPenaltySteersGreedyAwayFromSeenTokens()
    {
        // Token 1 (3.0) was in the prompt: 3.0 / 2 = 1.5 < 2.9, so token 5 wins.
        Assert.Equal(5, new TokenSampler(SamplingParams.Greedy() with { RepetitionPenalty = 2f }, [1]).Next(Logits).Token);
    }

    [Fact]
    public void TopKAndTopPRestrictTheSupportAndFrequenciesFollowSoftmax()
    {
        var counts = new int[Logits.Length];
        var s = new TokenSampler(new SamplingParams(Temperature: 1f, TopK: 3, Seed: 7), []);
        for (int i = 0; i < 6000; i++) counts[s.Next(Logits).Token]++;
        Assert.Equal(0, counts[0] + counts[3] + counts[4]);        // outside the top 3
        double z = Math.Exp(3.0) + Math.Exp(2.5) + Math.Exp(2.9);
        Assert.Equal(Math.Exp(3.0) / z, counts[1] / 6000.0, 1);
        Assert.Equal(Math.Exp(2.5) / z, counts[2] / 6000.0, 1);

        // top-p 0.5: token 1 (p≈.33) and 5 (p≈.30) reach 0.5; nothing else is ever drawn.
        var p = new TokenSampler(new SamplingParams(TopP: 0.5f, Seed: 3), []);
        var seen = new HashSet<int>();
        for (int i = 0; i < 2000; i++) seen.Add(p.Next(Logits).Token);
        Assert.Equal(new[] { 1, 5 }, seen.Order());
    }

    [Fact]
    public void SameSeedSameSequence()
    {
        var a = new TokenSampler(new SamplingParams(Seed: 42), []);
        var b = new TokenSampler(new SamplingParams(Seed: 42), []);
        var c = new TokenSampler(new SamplingParams(Seed: 43), []);
        var ra = Enumerable.Range(0, 50).Select(_ => a.Next(Logits).Token).ToArray();
        Assert.Equal(ra, Enumerable.Range(0, 50).Select(_ => b.Next(Logits).Token).ToArray());
        Assert.NotEqual(ra, Enumerable.Range(0, 50).Select(_ => c.Next(Logits).Token).ToArray());
    }

    private static double[] Frequencies(float temperature, int draws)
    {
        var counts = new double[Logits.Length];
        var s = new TokenSampler(new SamplingParams(Temperature: temperature, Seed: 17), []);
        for (int i = 0; i < draws; i++) counts[s.Next(Logits).Token]++;
        return [.. counts.Select(c => c / draws)];
    }

    private static double[] SoftmaxOver(float temperature)
    {
        var e = Logits.Select(l => Math.Exp(l / temperature)).ToArray();
        return [.. e.Select(x => x / e.Sum())];
    }

    private static double Entropy(double[] p) => -p.Where(x => x > 0).Sum(x => x * Math.Log(x));

    [Theory]
    [InlineData(0.5f)]
    [InlineData(2.0f)]
    public void FrequenciesFollowSoftmaxOfLogitsOverTemperature(float temperature)
    {
        // 20 000 draws: the standard error of each frequency is below 0.004, so 0.015 is a wide margin.
        var observed = Frequencies(temperature, 20_000);
        var expected = SoftmaxOver(temperature);
        for (int i = 0; i < Logits.Length; i++) Assert.Equal(expected[i], observed[i], 0.015);
    }

    [Fact]
    public void LowerTemperatureSharpensAndHigherFlattens()
    {
        var cold = Frequencies(0.5f, 20_000);
        var neutral = Frequencies(1.0f, 20_000);
        var hot = Frequencies(2.0f, 20_000);
        Assert.True(Entropy(cold) < Entropy(neutral) && Entropy(neutral) < Entropy(hot),
            $"entropies {Entropy(cold):F3}, {Entropy(neutral):F3}, {Entropy(hot):F3}");
        // The arg-max (token 1) gains mass as the temperature falls; the least likely token (3) loses it.
        Assert.True(cold[1] > neutral[1] && neutral[1] > hot[1]);
        Assert.True(cold[3] < neutral[3] && neutral[3] < hot[3]);
        // At 2.0 every token, even logit −1, is drawn; at 0.5 that one is all but gone (p ≈ 1e-4).
        Assert.True(hot[3] > 0.02);
        Assert.True(cold[3] < 0.002);
    }
}

/// <summary>Top-k log-probabilities and min_tokens against plain references.</summary>
public class LogprobsAndMinTokensTests
{
    [Fact]
    public void Top_k_equals_a_full_sort_of_the_log_softmax_with_ties_to_the_lower_id()
    {
        var rng = new Random(3);
        var logits = Enumerable.Range(0, 1000).Select(_ => (float)Math.Round(rng.NextDouble() * 8 - 4, 1)).ToArray();  // many ties
        double lse = Logprobs.LogSumExp(logits);
        double reference = Math.Log(logits.Sum(l => Math.Exp(l)));
        Assert.Equal(reference, lse, 9);
        foreach (int k in (int[])[1, 5, 20, 1000, 2000])
        {
            var top = Logprobs.Top(logits, k, lse);
            var expected = logits.Select((l, i) => (Id: i, L: l)).OrderByDescending(p => p.L).ThenBy(p => p.Id).Take(k).ToList();
            Assert.Equal(expected.Select(p => p.Id), top.Select(t => t.TokenId));
            for (int i = 0; i < top.Length; i++) Assert.Equal(expected[i].L - reference, top[i].Logprob, 5);
        }
        Assert.Empty(Logprobs.Top(logits, 0, lse));
    }

    [Fact]
    public void Min_tokens_masks_the_end_tokens_until_enough_are_sampled_then_lets_them_win()
    {
        float[] logits = [0f, 5f, 1f];    // token 1 (the EOS here) is by far the likeliest
        var sampler = new TokenSampler(new SamplingParams(Temperature: 0, MaxTokens: 8, MinTokens: 2), [], endTokens: [1]);
        Assert.Equal(2, sampler.Next(logits).Token);
        Assert.Equal(2, sampler.Next(logits).Token);
        Assert.Equal(1, sampler.Next(logits).Token);
        // Sampled, not greedy: the masked token is never drawn while masked.
        for (int seed = 0; seed < 50; seed++)
        {
            var s = new TokenSampler(new SamplingParams(Temperature: 1, Seed: seed, MaxTokens: 8, MinTokens: 1), [], endTokens: [1]);
            Assert.NotEqual(1, s.Next(logits).Token);
        }
        // The reported logprob stays the raw one (the mask changes the draw, not the distribution reported).
        var (_, lp) = new TokenSampler(new SamplingParams(Temperature: 0, MaxTokens: 8, MinTokens: 1), [], endTokens: [1]).Next(logits);
        Assert.Equal(1f - Logprobs.LogSumExp(logits), lp, 5);
    }

    [Fact]
    public void Sampling_params_refuse_top_logprobs_and_min_tokens_out_of_range()
    {
        Assert.Throws<ArgumentException>(() => new SamplingParams(TopLogprobs: 21).Validate());
        Assert.Throws<ArgumentException>(() => new SamplingParams(TopLogprobs: -1).Validate());
        Assert.Throws<ArgumentException>(() => new SamplingParams(MaxTokens: 4, MinTokens: 5).Validate());
        new SamplingParams(MaxTokens: 4, MinTokens: 4, TopLogprobs: 20).Validate();
    }
}
