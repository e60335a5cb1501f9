using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Text;
using LoraSqueeze.Model.Sampling;
using LoraSqueeze.Protos.V1;
using WireFinish = LoraSqueeze.Protos.V1.FinishReason;

namespace LoraSqueeze.Server.Grpc;

/// <summary>
/// The gRPC wire types to the engine's, once: the proto's zero values mean "server default" (max_tokens 0 → the
/// server's limit, top_p 0 → 1, repetition_penalty 0 → 1); every range check is the engine's
/// (<see cref="RequestLimits.Validate"/>).
/// </summary>
internal static class GenerateRequestMapping
{
    /// <summary>
    /// The engine's request for <paramref name="request"/>; <paramref name="adapterOverride"/> (a gateway's
    /// <c>x-llm-d-model-name-rewrite</c> header), when not empty, replaces the message's adapter id.
    /// </summary>
    public static GenerationRequest ToEngine(this GenerateRequest request, ITextCodec codec, int defaultMaxTokens, string? adapterOverride = null)
    {
        int[] prompt = request.PromptCase switch
        {
            // An empty text would still encode to BOS alone: refuse it, as an empty token list is.
            GenerateRequest.PromptOneofCase.Text when request.Text.Length == 0 => throw new ArgumentException("the prompt is empty"),
            GenerateRequest.PromptOneofCase.Text => codec.Encode(request.Text),
            GenerateRequest.PromptOneofCase.Tokens => request.Tokens.Ids.ToArray(),
            _ => throw new ArgumentException("a prompt is required: set text or tokens"),
        };
        var s = request.Sampling ?? new SamplingOptions();
        var sampling = new SamplingParams(
            Temperature: s.Temperature,
            TopP: s.TopP == 0 ? 1 : s.TopP,
            TopK: s.TopK,
            RepetitionPenalty: s.RepetitionPenalty == 0 ? 1 : s.RepetitionPenalty,
            Seed: s.HasSeed ? unchecked((long)s.Seed) : null,
            MaxTokens: s.MaxTokens == 0 ? defaultMaxTokens : s.MaxTokens,
            StopTokenSequences: s.StopTokenIds.Count == 0 ? null : s.StopTokenIds.Select(id => new[] { id }).ToList(),
            Logprobs: s.Logprobs,
            MinTokens: s.MinTokens);
        string adapter = string.IsNullOrEmpty(adapterOverride) ? request.AdapterId : adapterOverride;
        return new GenerationRequest(GenerationRequest.NextId(), prompt, adapter.Length == 0 ? null : adapter, sampling, s.Stop.ToList());
    }

    public static WireFinish ToWire(this Engine.Requests.FinishReason finish) => finish switch
    {
        Engine.Requests.FinishReason.Length => WireFinish.Length,
        Engine.Requests.FinishReason.Eos => WireFinish.Eos,
        Engine.Requests.FinishReason.Stop => WireFinish.Stop,
        _ => WireFinish.Cancelled,
    };
}
