using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Model.Sampling;

namespace LoraSqueeze.Server.OpenAi;

/// <summary>
/// The sampling fields completions and chat share, read once: OpenAI's (<c>max_tokens</c>, <c>temperature</c>,
/// <c>top_p</c>, <c>n</c>, <c>stop</c>, <c>seed</c>, <c>stream</c>, <c>stream_options.include_usage</c>, <c>user</c>)
/// and the extensions vLLM accepts for what the engine has (<c>top_k</c>, <c>repetition_penalty</c>,
/// <c>min_tokens</c>, <c>stop_token_ids</c>). With <c>n</c> &gt; 1 and a seed, choice i samples with seed + i, so each
/// choice is reproducible and the choices differ. Fields the engine cannot honour are refused when they would change
/// the output (a non-zero frequency or presence penalty, a logit bias, <c>best_of</c> ≠ n) rather than ignored: a
/// client must not get a different distribution than it asked for without being told. Other unknown fields are
/// ignored, as OpenAI does.
/// </summary>
internal sealed record OpenAiSampling(SamplingParams Sampling, int N, List<string> Stop, bool Stream, bool IncludeUsage)
{
    public const int MaxN = 16;

    public static OpenAiSampling Parse(OpenAiRequestBody body, RequestLimits limits, int defaultMaxTokens, string maxTokensField = "max_tokens")
    {
        int? maxTokens = body.OptionalInt(maxTokensField, 1, int.MaxValue) ?? (maxTokensField == "max_tokens" ? null : body.OptionalInt("max_tokens", 1, int.MaxValue));
        if (maxTokens > limits.MaxTokens)
            throw new InvalidRequestException(maxTokensField, $"'{maxTokensField}' {maxTokens} is above the server's limit {limits.MaxTokens}");
        int max = maxTokens ?? Math.Min(defaultMaxTokens, limits.MaxTokens);
        float temperature = body.OptionalFloat("temperature", 0, 100) ?? 1f;
        float topP = body.OptionalFloat("top_p", 0, 1) ?? 1f;
        if (topP == 0) throw new InvalidRequestException("top_p", "'top_p' must be in (0, 1]");
        // vLLM: top_k -1 (or 0) disables it.
        int topK = body.OptionalInt("top_k", -1, int.MaxValue) ?? 0;
        float repetition = body.OptionalFloat("repetition_penalty", 1e-6, 100) ?? 1f;
        int minTokens = body.OptionalInt("min_tokens", 0, int.MaxValue) ?? 0;
        if (minTokens > max) throw new InvalidRequestException("min_tokens", $"'min_tokens' {minTokens} is above max_tokens {max}");
        int n = body.OptionalInt("n", 1, MaxN) ?? 1;
        var stop = body.StringOrList("stop", limits.MaxStopStrings);
        List<int[]>? stopIds = null;
        if (body.Get("stop_token_ids") is { } ids)
        {
            if (ids.ValueKind != System.Text.Json.JsonValueKind.Array) throw new InvalidRequestException("stop_token_ids", "'stop_token_ids' must be a list of token ids");
            stopIds = OpenAiRequestBody.TokenIds(ids, "stop_token_ids").Select(id => new[] { id }).ToList();
            if (stopIds.Count == 0) stopIds = null;
        }
        foreach (var field in (string[])["frequency_penalty", "presence_penalty"])
        {
            if (body.OptionalFloat(field, -2, 2) is float v && v != 0)
                throw new InvalidRequestException(field, $"'{field}' is not supported by this server (repetition_penalty is)");
        }
        if (body.Get("logit_bias") is { } bias && (bias.ValueKind != System.Text.Json.JsonValueKind.Object || bias.EnumerateObject().Any()))
            throw new InvalidRequestException("logit_bias", "'logit_bias' is not supported by this server");
        if (body.OptionalInt("best_of", 1, MaxN) is int bestOf && bestOf != n)
            throw new InvalidRequestException("best_of", "'best_of' other than n is not supported by this server");
        bool stream = body.OptionalBool("stream") ?? false;
        bool includeUsage = false;
        if (body.Get("stream_options") is { } so)
        {
            if (so.ValueKind != System.Text.Json.JsonValueKind.Object) throw new InvalidRequestException("stream_options", "'stream_options' must be an object");
            includeUsage = new OpenAiRequestBody(so).OptionalBool("include_usage") ?? false;
        }
        _ = body.OptionalString("user");   // accepted for compatibility; requests are not attributed to users here
        var sampling = new SamplingParams(
            Temperature: temperature,
            TopP: topP,
            TopK: Math.Max(0, topK),
            RepetitionPenalty: repetition,
            Seed: body.OptionalLong("seed"),
            MaxTokens: max,
            StopTokenSequences: stopIds,
            MinTokens: minTokens);
        return new OpenAiSampling(sampling, n, stop, stream, includeUsage);
    }

    /// <summary>The sampling of choice <paramref name="index"/>: its own seed when the request has one.</summary>
    public SamplingParams ForChoice(int index) => Sampling.Seed is long seed ? Sampling with { Seed = unchecked(seed + index) } : Sampling;

    /// <summary>The <see cref="N"/> engine requests of one prompt, each choice with its own seed and the endpoint's logprob settings.</summary>
    public IEnumerable<GenerationRequest> Choices(int[] prompt, string? adapter, Func<SamplingParams, SamplingParams> withLogprobs)
    {
        for (int i = 0; i < N; i++)
            yield return new GenerationRequest(GenerationRequest.NextId(), prompt, adapter, withLogprobs(ForChoice(i)), Stop);
    }
}
