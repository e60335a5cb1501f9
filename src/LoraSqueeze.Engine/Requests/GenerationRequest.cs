using LoraSqueeze.Model.Sampling;

namespace LoraSqueeze.Engine.Requests;

/// <summary>
/// One generation request as the engine sees it: the one request type of the project. The gRPC service (and any later
/// front end) maps its wire message to it once, <see cref="RequestLimits.Validate"/> checks it once, and the scheduler
/// and model runner carry it unchanged. <paramref name="AdapterId"/> null runs the base model;
/// <paramref name="StopStrings"/> are text stops, applied by the <see cref="Text.TextStreamer"/> (the engine works in
/// token ids and only knows <see cref="SamplingParams.StopTokenSequences"/>).
/// </summary>
public sealed record GenerationRequest(
    long Id,
    int[] PromptTokens,
    string? AdapterId,
    SamplingParams Sampling,
    IReadOnlyList<string>? StopStrings = null)
{
    private static long s_nextId;

    /// <summary>A process-wide unique request id (front ends number their requests with it).</summary>
    public static long NextId() => Interlocked.Increment(ref s_nextId);
}
