using LoraSqueeze.Model.Sampling;
using LoraSqueeze.Engine.Requests;

namespace LoraSqueeze.Engine.Scheduling;

/// <summary>
/// Tokens of one sequence to run in a step: <paramref name="Count"/> tokens from position <paramref name="Start"/>
/// (a prefill chunk of the prompt, or the one last generated token of a decode). <paramref name="Samples"/>: the
/// chunk ends the prompt or is a decode, so its last position's logits give the next token.
/// </summary>
public readonly record struct ScheduledChunk(SequenceState Sequence, int Start, int Count, bool Samples)
{
    /// <summary>A decode chunk (one generated token in, one out), as opposed to a prefill chunk.</summary>
    public bool IsDecode => Sequence.Generated.Count > 0;

    /// <summary>The token ids this chunk feeds.</summary>
    public int[] Tokens() => IsDecode
        ? [Sequence.LastToken]
        : Sequence.Request.PromptTokens.AsSpan(Start, Count).ToArray();
}

/// <summary>
/// What the scheduler decided for one step: sequences admitted now (the runner sets up their sampling state), requests
/// that cannot run (their adapter failed), and the chunks to execute: decodes first, then prefill chunks in admission
/// order, within the step's token budget.
/// </summary>
public sealed class ScheduledStep
{
    public List<SequenceState> Admitted { get; } = [];
    public List<(GenerationRequest Request, Exception Error)> Rejected { get; } = [];
    public List<ScheduledChunk> Decode { get; } = [];
    public List<ScheduledChunk> Prefill { get; } = [];

    public bool IsEmpty => Decode.Count == 0 && Prefill.Count == 0;

    /// <summary>Tokens this step feeds through the model.</summary>
    public int TokenCount => Decode.Count + Prefill.Sum(c => c.Count);
}

/// <summary>
/// One sampled token of a step, in the order of the step's sampling chunks (prefill, then decode). TokenId −1: the
/// logits were not finite, so nothing could be sampled (<see cref="NonFinite"/>).
/// </summary>
public readonly record struct SampledToken(long RequestId, int TokenId, float Logprob,
    TokenLogprob[]? Top = null, IReadOnlyList<PositionLogprobs>? Prompt = null)
{
    public static SampledToken NonFinite(long requestId) => new(requestId, -1, float.NaN);

    public bool IsNonFinite => TokenId < 0;
}
