namespace LoraSqueeze.Engine.Scheduling;

/// <summary>Limits of a <see cref="Scheduler"/>: rows of the batch, tokens per step, tokens per sequence, EOS ids.</summary>
public sealed record SchedulerOptions
{
    /// <summary>Sequences in the running batch at most (= KV-cache rows).</summary>
    public int MaxBatch { get; init; } = 16;

    /// <summary>Tokens one step processes at most (decode tokens plus prefill chunks); long prompts prefill in chunks.</summary>
    public int MaxTokensPerStep { get; init; } = 512;

    /// <summary>Prompt plus generated tokens per sequence at most (= KV-cache row length).</summary>
    public int MaxSequenceLength { get; init; } = 1024;

    /// <summary>End-of-sequence ids; null takes the model config's <c>eos_token_id</c> (offline cores resolve it).</summary>
    public IReadOnlyList<int>? EosTokenIds { get; init; }

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for limits no step could run with.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxBatch, 1, nameof(MaxBatch));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxTokensPerStep, MaxBatch, nameof(MaxTokensPerStep));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxSequenceLength, 2, nameof(MaxSequenceLength));
    }
}
