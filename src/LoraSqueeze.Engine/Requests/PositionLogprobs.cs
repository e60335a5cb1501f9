using LoraSqueeze.Model.Sampling;

namespace LoraSqueeze.Engine.Requests;

/// <summary>The log-probability of the token at one prompt position given the tokens before it, and the position's top candidates.</summary>
public readonly record struct PositionLogprobs(float Logprob, TokenLogprob[] Top);
