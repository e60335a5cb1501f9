using LoraSqueeze.Engine.Adapters;

namespace LoraSqueeze.Engine.Requests;

/// <summary>
/// What a request may ask for, and the one place requests are validated (before they are queued, so a bad request is
/// refused with a message naming the field and never reaches the engine thread). Every message is an
/// <see cref="ArgumentException"/>, which the front ends answer as INVALID_ARGUMENT (HTTP 400).
/// </summary>
public sealed record RequestLimits
{
    /// <summary>Prompt ids must be below this (the model's embedding rows, bounded by the tokenizer's vocabulary).</summary>
    public required int VocabSize { get; init; }

    /// <summary>Prompt tokens at most.</summary>
    public int MaxPromptTokens { get; init; } = int.MaxValue;

    /// <summary>Generated tokens at most per request.</summary>
    public int MaxTokens { get; init; } = int.MaxValue;

    /// <summary>Prompt plus generated tokens per sequence at most (the KV-cache row length).</summary>
    public required int MaxSequenceLength { get; init; }

    /// <summary>Text stop strings per request at most.</summary>
    public int MaxStopStrings { get; init; } = 8;

    /// <summary>Throws <see cref="ArgumentException"/> naming what is wrong with <paramref name="r"/>.</summary>
    public void Validate(GenerationRequest r)
    {
        var prompt = r.PromptTokens;
        if (prompt.Length == 0) throw new ArgumentException($"request {r.Id}: the prompt is empty");
        if (prompt.Length > MaxPromptTokens)
            throw new ArgumentException($"the prompt has {prompt.Length} tokens; the limit is {MaxPromptTokens}");
        if (prompt.Length >= MaxSequenceLength)
            throw new ArgumentException($"request {r.Id}: prompt of {prompt.Length} tokens leaves no room in MaxSequenceLength {MaxSequenceLength}");
        foreach (int id in prompt)
        {
            if (id < 0 || id >= VocabSize)
                throw new ArgumentException($"prompt token id {id} is outside the vocabulary [0, {VocabSize})");
        }
        r.Sampling.Validate();
        foreach (var stop in r.Sampling.StopTokenSequences ?? [])
        {
            foreach (int id in stop)
            {
                if (id < 0 || id >= VocabSize)
                    throw new ArgumentException($"stop token id {id} is outside the vocabulary [0, {VocabSize})");
            }
        }
        if (r.Sampling.MaxTokens > MaxTokens)
            throw new ArgumentException($"max_tokens {r.Sampling.MaxTokens} is above the server's limit {MaxTokens}");
        if (r.AdapterId is { } adapter && !AdapterPathResolver.IsValidId(adapter))
            throw new ArgumentException($"adapter id {AdapterPathResolver.Quote(adapter)} must be 1 to 128 letters, digits, '-', '_' or '.'");
        if (r.StopStrings is { } stops)
        {
            if (stops.Count > MaxStopStrings) throw new ArgumentException($"at most {MaxStopStrings} stop strings");
            if (stops.Any(string.IsNullOrEmpty)) throw new ArgumentException("stop strings must not be empty");
        }
    }
}
