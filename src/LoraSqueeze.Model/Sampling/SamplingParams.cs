namespace LoraSqueeze.Model.Sampling;

/// <summary>
/// How one request samples: the one sampling type of the project (the gRPC service maps its wire message to it, the
/// engine carries it, <see cref="TokenSampler"/> applies it). Temperature 0 means greedy. TopK 0 and TopP 1 disable
/// those filters; RepetitionPenalty 1 disables the penalty (HF CTRL-style: a seen token's positive logit is divided by
/// it, a negative one multiplied). Seed makes the output reproducible, alone or in any batch. StopTokenSequences are
/// token-id sequences (vLLM's <c>stop_token_ids</c>, generalised to sequences): generation stops when the output ends
/// with one of them; the engine's scheduler checks them, text stop strings are the streamer's. Logprobs returns each
/// generated token's log-probability, TopLogprobs (0..20) that many most likely alternatives per position,
/// PromptLogprobs the same for every prompt position after the first (OpenAI's echo with logprobs). MinTokens
/// (vLLM's <c>min_tokens</c>): EOS and one-token stop ids cannot be sampled before that many tokens.
/// </summary>
public sealed record SamplingParams(
    float Temperature = 1f,
    float TopP = 1f,
    int TopK = 0,
    float RepetitionPenalty = 1f,
    long? Seed = null,
    int MaxTokens = 64,
    IReadOnlyList<int[]>? StopTokenSequences = null,
    bool Logprobs = false,
    int TopLogprobs = 0,
    bool PromptLogprobs = false,
    int MinTokens = 0)
{
    /// <summary>The most alternatives a position may report (OpenAI's chat limit; completions allow 5).</summary>
    public const int MaxTopLogprobs = 20;

    /// <summary>Greedy decoding.</summary>
    public static SamplingParams Greedy(int maxTokens = 64) => new(Temperature: 0f, MaxTokens: maxTokens);

    /// <summary>Throws <see cref="ArgumentException"/> naming the bad field.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new ArgumentException($"temperature {Temperature} must be ≥ 0");
        if (!(TopP > 0 && TopP <= 1)) throw new ArgumentException($"top_p {TopP} must be in (0, 1]");
        if (TopK < 0) throw new ArgumentException($"top_k {TopK} must be ≥ 0");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty)) throw new ArgumentException($"repetition_penalty {RepetitionPenalty} must be > 0");
        if (MaxTokens < 1) throw new ArgumentException($"max_tokens {MaxTokens} must be ≥ 1");
        if (StopTokenSequences?.Any(s => s is null || s.Length == 0) == true) throw new ArgumentException("stop sequences must be non-empty");
        if (TopLogprobs < 0 || TopLogprobs > MaxTopLogprobs) throw new ArgumentException($"top_logprobs {TopLogprobs} must be in [0, {MaxTopLogprobs}]");
        if (MinTokens < 0 || MinTokens > MaxTokens) throw new ArgumentException($"min_tokens {MinTokens} must be in [0, max_tokens {MaxTokens}]");
    }
}
