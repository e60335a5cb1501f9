namespace LoraSqueeze.Server.Engine;

/// <summary>A request's sampling, validated by the service (temperature 0 = greedy; 0 disables top-p/top-k).</summary>
public sealed record SamplingSettings(
    float Temperature,
    float TopP,
    int TopK,
    float RepetitionPenalty,
    ulong? Seed,
    int MaxTokens,
    bool Logprobs);
