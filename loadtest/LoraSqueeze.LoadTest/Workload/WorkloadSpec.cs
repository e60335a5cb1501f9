namespace LoraSqueeze.LoadTest.Workload;

/// <summary>What the requests look like: which adapters, how popular, how long the prompts and outputs are.</summary>
public sealed record WorkloadSpec
{
    /// <summary>Adapter ids in popularity order (index 0 is the most popular). Empty: every request is on the base model.</summary>
    public IReadOnlyList<string> AdapterIds { get; init; } = [];

    /// <summary>Zipf exponent of adapter popularity (S-LoRA's α; 1 in its headline runs).</summary>
    public double ZipfAlpha { get; init; } = 1.0;

    /// <summary>Share of requests with an empty adapter id (base model) mixed into an adapter workload.</summary>
    public double BaseShare { get; init; }

    /// <summary>Prompt length in tokens (random token ids below <see cref="VocabSize"/>).</summary>
    public IntRange PromptTokens { get; init; } = new(16, 128);

    /// <summary>max_tokens of each request.</summary>
    public IntRange OutputTokens { get; init; } = new(16, 64);

    /// <summary>
    /// Every request asks for min_tokens = max_tokens, so EOS cannot end it early and each produces exactly its
    /// max_tokens: the same work as a fixed-length in-process run (the peer bench's server comparison).
    /// </summary>
    public bool ExactOutputTokens { get; init; }

    /// <summary>Prompt token ids are drawn from [4, VocabSize) so special tokens at the bottom are avoided.</summary>
    public int VocabSize { get; init; } = 256;

    /// <summary>Seed of the request sequence: the same seed gives the same requests against every server.</summary>
    public int Seed { get; init; } = 1234;

    public void Validate()
    {
        if (BaseShare is < 0 or > 1) throw new ArgumentException($"base share must be in [0, 1] (got {BaseShare})");
        if (VocabSize <= 5) throw new ArgumentException($"vocab size must exceed 5 (got {VocabSize})");
        if (ZipfAlpha < 0) throw new ArgumentException($"zipf alpha must be ≥ 0 (got {ZipfAlpha})");
    }
}
