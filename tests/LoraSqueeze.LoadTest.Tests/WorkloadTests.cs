using LoraSqueeze.LoadTest.Workload;

namespace LoraSqueeze.LoadTest.Tests;

public sealed class WorkloadTests
{
    [Fact]
    public void Zipf_probabilities_follow_the_power_law_and_sum_to_one()
    {
        var zipf = new ZipfSampler(1000, 1.0);
        double sum = Enumerable.Range(0, 1000).Sum(zipf.Probability);
        Assert.Equal(1.0, sum, 1e-9);
        double harmonic = Enumerable.Range(1, 1000).Sum(k => 1.0 / k);
        Assert.Equal(1 / harmonic, zipf.Probability(0), 1e-12);
        Assert.Equal(zipf.Probability(0) / 10, zipf.Probability(9), 1e-12);
    }

    [Theory]
    [InlineData(50, 1.0)]
    [InlineData(20, 0.3)]
    [InlineData(10, 0.0)]
    public void Zipf_sample_frequencies_match_the_probabilities(int n, double alpha)
    {
        var zipf = new ZipfSampler(n, alpha);
        var random = new Random(42);
        const int draws = 200_000;
        var counts = new int[n];
        for (int i = 0; i < draws; i++) counts[zipf.Sample(random)]++;
        for (int k = 0; k < n; k++)
        {
            double p = zipf.Probability(k);
            double sigma = Math.Sqrt(draws * p * (1 - p));
            // Binomial count within 5 standard deviations: fails by chance with probability ~1e-6 per rank.
            Assert.InRange(counts[k], draws * p - 5 * sigma, draws * p + 5 * sigma);
        }
    }

    [Fact]
    public void Zipf_maps_the_ends_of_the_unit_interval_to_the_first_and_last_rank()
    {
        var zipf = new ZipfSampler(5, 1.0);
        Assert.Equal(0, zipf.FromUniform(0.0));
        Assert.Equal(4, zipf.FromUniform(0.9999999));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ZipfSampler(0, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ZipfSampler(3, -1));
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(4.0)]
    [InlineData(50.0)]
    public void Poisson_gaps_have_mean_one_over_rate_and_unit_coefficient_of_variation(double rate)
    {
        var arrivals = new PoissonArrivals(rate);
        var random = new Random(7);
        const int n = 200_000;
        var gaps = Enumerable.Range(0, n).Select(_ => arrivals.NextGap(random)).ToArray();
        double mean = gaps.Average();
        double sd = Math.Sqrt(gaps.Sum(g => (g - mean) * (g - mean)) / (n - 1));
        // Standard error of the mean is (1/rate)/√n ≈ 0.22 % of the mean; allow 1.5 %.
        Assert.Equal(1 / rate, mean, 0.015 / rate);
        Assert.Equal(1.0, sd / mean, 0.02);
        Assert.All(gaps, g => Assert.True(g >= 0));
    }

    /// <summary>ExactOutputTokens asks min_tokens = max_tokens of every request (and changes nothing else); without it min_tokens is 0.</summary>
    [Fact]
    public void Exact_output_tokens_ask_min_tokens_equal_to_max_tokens()
    {
        var spec = new WorkloadSpec { AdapterIds = ["a", "b"], OutputTokens = new IntRange(8, 40), Seed = 3 };
        var free = new RequestGenerator(spec);
        var exact = new RequestGenerator(spec with { ExactOutputTokens = true });
        for (int i = 0; i < 200; i++)
        {
            var f = free.Next();
            var e = exact.Next();
            Assert.Equal(0, f.MinTokens);
            Assert.Equal(e.MaxTokens, e.MinTokens);
            Assert.Equal(f with { MinTokens = e.MinTokens }, e with { PromptTokens = f.PromptTokens });
            Assert.Equal(f.PromptTokens, e.PromptTokens);
        }
    }

    [Fact]
    public void Requests_repeat_for_a_seed_and_their_prompts_do_not_depend_on_the_adapter_set()
    {
        var spec = new WorkloadSpec { AdapterIds = ["a", "b", "c"], BaseShare = 0.25, VocabSize = 100, Seed = 9 };
        var one = new RequestGenerator(spec);
        var two = new RequestGenerator(spec);
        var baseOnly = new RequestGenerator(spec with { AdapterIds = [] });
        int baseCount = 0;
        for (int i = 0; i < 2000; i++)
        {
            var x = one.Next();
            var y = two.Next();
            var z = baseOnly.Next();
            Assert.Equal(x.AdapterId, y.AdapterId);
            Assert.Equal(x.PromptTokens, y.PromptTokens);
            Assert.Equal(x.PromptTokens, z.PromptTokens);
            Assert.Equal(x.MaxTokens, z.MaxTokens);
            Assert.Equal("", z.AdapterId);
            Assert.InRange(x.PromptTokens.Length, spec.PromptTokens.Min, spec.PromptTokens.Max);
            Assert.All(x.PromptTokens, t => Assert.InRange(t, 4, 99));
            if (x.AdapterId.Length == 0) baseCount++;
        }
        Assert.InRange(baseCount, 400, 600); // 25 % of 2000, ±5 σ (σ ≈ 19)
    }

    [Fact]
    public void Ranges_parse_single_values_and_spans()
    {
        Assert.Equal(new IntRange(8, 512), IntRange.Parse("8..512"));
        Assert.Equal(new IntRange(32, 32), IntRange.Parse("32"));
        Assert.Throws<FormatException>(() => IntRange.Parse("9..3"));
        Assert.Throws<FormatException>(() => IntRange.Parse("0"));
    }
}
