namespace LoraSqueeze.Model.Generation;

/// <summary>
/// How one request samples. Temperature 0 means greedy. TopK 0 and TopP 1 disable those filters; RepetitionPenalty 1
/// disables the penalty (HF CTRL-style: a seen token's positive logit is divided by it, a negative one multiplied).
/// Seed makes the output reproducible, alone or in any batch. StopTokenSequences are token-id sequences (the server
/// encodes its stop strings with the tokenizer); generation stops when the output ends with one of them.
/// </summary>
public sealed record SamplingParams(
    float Temperature = 1f,
    float TopP = 1f,
    int TopK = 0,
    float RepetitionPenalty = 1f,
    long? Seed = null,
    int MaxTokens = 64,
    IReadOnlyList<int[]>? StopTokenSequences = null,
    bool Logprobs = false)
{
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
    }
}

/// <summary>One generation request. <paramref name="AdapterSlot"/> −1 runs the base model.</summary>
public sealed record GenerationRequest(long Id, int[] PromptTokens, int AdapterSlot, SamplingParams Sampling);

/// <summary>Why a sequence finished (None while it runs).</summary>
public enum FinishReason
{
    None,
    Length,
    Eos,
    Stop,
    Cancelled,
}

/// <summary>
/// One generated token. <see cref="Logprob"/> is the log-probability of the token under the model's raw distribution
/// (log-softmax of the logits before penalty, temperature and filters, as vLLM reports by default); NaN unless the
/// request asked for logprobs. A finished sequence's last event carries its <see cref="Finish"/>; a cancelled one gets
/// an event with <see cref="TokenId"/> −1 (no token).
/// </summary>
public readonly record struct TokenEvent(long RequestId, int TokenId, float Logprob, FinishReason Finish);

/// <summary>Limits of a <see cref="BatchGenerator"/>.</summary>
public sealed record BatchGeneratorOptions
{
    /// <summary>Sequences in the running batch at most (= KV-cache rows).</summary>
    public int MaxBatch { get; init; } = 16;

    /// <summary>Tokens one step processes at most (decode tokens plus prefill chunks); long prompts prefill in chunks.</summary>
    public int MaxTokensPerStep { get; init; } = 512;

    /// <summary>Prompt plus generated tokens per sequence at most (= KV-cache row length).</summary>
    public int MaxSequenceLength { get; init; } = 1024;

    /// <summary>End-of-sequence ids; null takes the config's <c>eos_token_id</c>.</summary>
    public IReadOnlyList<int>? EosTokenIds { get; init; }
}
