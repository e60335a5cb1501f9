using LoraSqueeze.Model.Sampling;

namespace LoraSqueeze.Engine.Requests;

/// <summary>
/// One generated token. <see cref="Logprob"/> is the log-probability of the token under the model's raw distribution
/// (log-softmax of the logits before penalty, temperature and filters, as vLLM reports by default); NaN unless the
/// request asked for logprobs. A finished sequence's last event carries its <see cref="Finish"/>; a cancelled one gets
/// an event with <see cref="TokenId"/> −1 (no token). <see cref="Top"/>: the position's most likely tokens when the
/// request asked for <see cref="SamplingParams.TopLogprobs"/>; <see cref="Prompt"/>, on the first token only, the
/// prompt positions 1.. when it asked for <see cref="SamplingParams.PromptLogprobs"/>.
/// </summary>
public readonly record struct TokenEvent(long RequestId, int TokenId, float Logprob, FinishReason Finish,
    TokenLogprob[]? Top = null, IReadOnlyList<PositionLogprobs>? Prompt = null);
