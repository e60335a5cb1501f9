namespace LoraSqueeze.Model.Sampling;

/// <summary>A token id with its log-probability under the model's raw distribution (one of a position's top candidates).</summary>
public readonly record struct TokenLogprob(int TokenId, float Logprob);
