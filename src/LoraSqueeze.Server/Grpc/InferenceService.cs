using Grpc.Core;
using LoraSqueeze.Engine;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Engine.Metrics;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Text;
using LoraSqueeze.Protos.V1;
using LoraSqueeze.Server.Hosting;

namespace LoraSqueeze.Server.Grpc;

/// <summary>
/// Inference RPCs. Thin: maps the wire request to the engine's (<see cref="GenerateRequestMapping"/>), which validates
/// it, pins the adapter, submits it to the engine thread and turns the tokens it sends back into text with the
/// request's <see cref="TextStreamer"/>. No tensor is touched here.
/// </summary>
internal sealed class InferenceService(
    InferenceEngine engine,
    AdapterManager adapters,
    ITextCodec codec,
    ServerOptions options,
    EngineMetrics metrics) : Inference.InferenceBase
{
    public override async Task<GenerateResponse> Generate(GenerateRequest request, ServerCallContext context)
    {
        var call = Prepare(request);
        var reply = new GenerateResponse { AdapterId = request.AdapterId };
        await RunAsync(call, (_, _, _) => Task.CompletedTask, context.CancellationToken);
        reply.TokenIds.AddRange(call.AllTokens);
        if (call.Request.Sampling.Logprobs) reply.Logprobs.AddRange(call.AllLogprobs);
        reply.Text = call.Text.Text;
        reply.FinishReason = call.Finish.ToWire();
        reply.Usage = call.Usage;
        return reply;
    }

    public override async Task GenerateStream(GenerateRequest request, IServerStreamWriter<GenerateStreamResponse> responseStream,
        ServerCallContext context)
    {
        var call = Prepare(request);
        await RunAsync(call, async (piece, tokens, logprobs) =>
        {
            var message = new GenerateStreamResponse { Text = piece };
            message.TokenIds.AddRange(tokens);
            if (call.Request.Sampling.Logprobs) message.Logprobs.AddRange(logprobs);
            await responseStream.WriteAsync(message, context.CancellationToken);
        }, context.CancellationToken);
        var last = new GenerateStreamResponse { FinishReason = call.Finish.ToWire(), Usage = call.Usage, Text = call.Tail };
        last.TokenIds.AddRange(call.TailTokens);
        if (call.Request.Sampling.Logprobs) last.Logprobs.AddRange(call.TailLogprobs);
        await responseStream.WriteAsync(last, context.CancellationToken);
    }

    /// <summary>
    /// Runs a prepared call: pin the adapter, submit, then relay tokens. <paramref name="onPiece"/> gets each new piece
    /// of text with the tokens that produced it; tokens whose text is still held back stay in the call's tail.
    /// </summary>
    private async Task RunAsync(GenerateCall call, Func<string, IReadOnlyList<int>, IReadOnlyList<float>, Task> onPiece,
        CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var request = call.Request;
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
            RpcErrors.ResourceExhausted($"the request queue is full ({options.QueueLength} waiting); retry later");
        }
        metrics.PromptTokens.Inc(request.PromptTokens.Length);
        var finish = Engine.Requests.FinishReason.None;
        int generated = 0;
        try
        {
            using var onCancel = cancellationToken.Register(() => engine.Cancel(handle));
            await foreach (var token in handle.Output.Reader.ReadAllAsync(cancellationToken))
            {
                if (generated++ == 0) metrics.TimeToFirstToken.Observe(started.Elapsed.TotalSeconds);
                call.AllTokens.Add(token.TokenId);
                call.AllLogprobs.Add(token.Logprob);
                call.TailTokens.Add(token.TokenId);
                call.TailLogprobs.Add(token.Logprob);
                var piece = call.Text.Push(token.TokenId);
                if (token.Finish != Engine.Requests.FinishReason.None) finish = token.Finish;
                // A stop string appeared in the text: end the sequence now instead of generating past it.
                if (call.Text.Stopped) finish = Engine.Requests.FinishReason.Stop;
                if (piece.Length > 0)
                {
                    await onPiece(piece, call.TailTokens.ToArray(), call.TailLogprobs.ToArray());
                    call.TailTokens.Clear();
                    call.TailLogprobs.Clear();
                }
                if (call.Text.Stopped) break;
            }
        }
        finally
        {
            // Stops the sequence if it is still running (stop string, failed write, client gone); a no-op otherwise.
            engine.Cancel(handle);
        }
        cancellationToken.ThrowIfCancellationRequested();
        call.Tail = call.Text.Flush();
        if (finish == Engine.Requests.FinishReason.None) finish = Engine.Requests.FinishReason.Cancelled;
        call.Finish = finish;
        call.Usage = new Usage { PromptTokens = request.PromptTokens.Length, CompletionTokens = call.AllTokens.Count };
    }

    private GenerateCall Prepare(GenerateRequest wire)
    {
        var request = wire.ToEngine(codec, options.MaxTokens);
        engine.Limits.Validate(request);
        return new GenerateCall(request, codec.CreateStreamer(request.PromptTokens, request.StopStrings ?? []));
    }

    /// <summary>One request's state while it runs.</summary>
    private sealed class GenerateCall(GenerationRequest request, TextStreamer text)
    {
        public GenerationRequest Request { get; } = request;
        public TextStreamer Text { get; } = text;
        public List<int> TailTokens { get; } = [];
        public List<float> TailLogprobs { get; } = [];
        public string Tail { get; set; } = "";
        public List<int> AllTokens { get; } = [];
        public List<float> AllLogprobs { get; } = [];
        public Engine.Requests.FinishReason Finish { get; set; }
        public Usage Usage { get; set; } = new();
    }
}
