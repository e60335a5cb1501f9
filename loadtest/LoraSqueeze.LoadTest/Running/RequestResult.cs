namespace LoraSqueeze.LoadTest.Running;

/// <summary>
/// What happened to one request. Times are seconds from the start of the measured window; <see cref="Status"/> is the
/// gRPC status name (<c>OK</c> on success). TTFT is the first streamed message carrying a token.
/// </summary>
public sealed record RequestResult(
    int Index,
    string AdapterId,
    double StartSeconds,
    double EndSeconds,
    double? TtftSeconds,
    int PromptTokens,
    int CompletionTokens,
    string Status)
{
    public bool Ok => Status == "OK";

    public double LatencySeconds => EndSeconds - StartSeconds;
}
