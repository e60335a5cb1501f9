using LoraSqueeze.Engine;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Engine.Metrics;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Text;
using LoraSqueeze.Server.Hosting;

namespace LoraSqueeze.Server.Serving;

/// <summary>
/// The one way front ends start generations: validate the request (<see cref="RequestLimits.Validate"/>), pin its
/// adapter (loading and squeezing it if needed), and submit it to the engine thread. gRPC and HTTP requests go through
/// here alike, so they share the engine's continuous batches and its queue bound.
/// </summary>
public sealed class GenerationGateway(InferenceEngine engine, AdapterManager adapters, ITextCodec codec, ServerOptions options, EngineMetrics metrics)
{
    public ITextCodec Codec => codec;

    public RequestLimits Limits => engine.Limits;

    /// <summary>
    /// Starts <paramref name="request"/>: throws <see cref="ArgumentException"/> (bad request),
    /// <see cref="AdapterNotFoundException"/>, <see cref="AdapterPathException"/>, <see cref="AdapterLoadException"/>,
    /// <see cref="QueueFullException"/> or <see cref="EngineUnavailableException"/> before anything runs.
    /// </summary>
    public async Task<Generation> StartAsync(GenerationRequest request, CancellationToken cancellationToken)
    {
        engine.Limits.Validate(request);
        var started = System.Diagnostics.Stopwatch.StartNew();
        AdapterLease? lease = request.AdapterId is null ? null : await adapters.AcquireAsync(request.AdapterId, cancellationToken);
        var handle = new RequestHandle(request, lease);
        bool queued;
        try
        {
            queued = engine.TrySubmit(handle);
        }
        catch
        {
            lease?.Dispose();
            throw;
        }
        if (!queued)
        {
            lease?.Dispose();
            throw new QueueFullException(options.QueueLength);
        }
        metrics.PromptTokens.Inc(request.PromptTokens.Length);
        var stops = request.StopStrings ?? [];
        return new Generation(engine, handle, codec.CreateStreamer(request.PromptTokens, stops), metrics, started);
    }

    /// <summary>
    /// Starts every request (the choices of one call, each its own engine request) and runs <paramref name="body"/>
    /// over them. Every request is validated before any starts; if one cannot start, those started are stopped and the
    /// error propagates. Every generation is disposed afterwards (a sequence still running, e.g. after a client
    /// disconnect, is cancelled).
    /// </summary>
    public async Task RunAllAsync(IReadOnlyList<GenerationRequest> requests, Func<List<Generation>, Task> body, CancellationToken cancellationToken)
    {
        foreach (var r in requests) engine.Limits.Validate(r);
        var generations = new List<Generation>(requests.Count);
        try
        {
            foreach (var r in requests) generations.Add(await StartAsync(r, cancellationToken));
            await body(generations);
        }
        finally
        {
            foreach (var g in generations) g.Dispose();
        }
    }
}
