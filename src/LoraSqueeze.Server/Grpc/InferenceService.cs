using Grpc.Core;
using LoraSqueeze.Protos.V1;
using LoraSqueeze.Server.Adapters;
using LoraSqueeze.Server.Engine;
using LoraSqueeze.Server.Hosting;
using LoraSqueeze.Server.Metrics;

namespace LoraSqueeze.Server.Grpc;

/// <summary>
/// Inference RPCs. Thin: validates and tokenizes, pins the adapter, queues the request for the engine thread and
/// turns the tokens it sends back into text. No tensor is touched here.
/// </summary>
internal sealed class InferenceService(
    InferenceEngine engine,
    AdapterStore adapters,
    ITextCodec codec,
    ServerOptions options,
    ServerMetrics metrics) : Inference.InferenceBase
{
    private const int MaxStopStrings = 8;

    public override async Task<GenerateResponse> Generate(GenerateRequest request, ServerCallContext context)
    {
        var call = Prepare(request);
        var reply = new GenerateResponse { AdapterId = request.AdapterId };
        await RunAsync(call, (_, _, _) => Task.CompletedTask, context.CancellationToken);
        reply.TokenIds.AddRange(call.AllTokens);
        if (call.Sampling.Logprobs) reply.Logprobs.AddRange(call.AllLogprobs);
        reply.Text = call.Text.Text;
        reply.FinishReason = call.Finish;
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
            if (call.Sampling.Logprobs) message.Logprobs.AddRange(logprobs);
            await responseStream.WriteAsync(message, context.CancellationToken);
        }, context.CancellationToken);
        var last = new GenerateStreamResponse { FinishReason = call.Finish, Usage = call.Usage, Text = call.Tail };
        last.TokenIds.AddRange(call.TailTokens);
        if (call.Sampling.Logprobs) last.Logprobs.AddRange(call.TailLogprobs);
        await responseStream.WriteAsync(last, context.CancellationToken);
    }

    /// <summary>
    /// Runs a prepared call: pin the adapter, queue, then relay tokens. <paramref name="onPiece"/> gets each new piece
    /// of text with the tokens that produced it; tokens whose text is still held back stay in the call's tail.
    /// </summary>
    private async Task RunAsync(GenerateCall call, Func<string, IReadOnlyList<int>, IReadOnlyList<float>, Task> onPiece,
        CancellationToken cancellationToken)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        AdapterLease? lease = call.AdapterId.Length == 0 ? null : await adapters.AcquireAsync(call.AdapterId, cancellationToken);
        var work = new EngineRequest(call.Prompt, lease, call.Sampling);
        bool queued;
        try
        {
            queued = engine.TrySubmit(work);
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
        metrics.PromptTokens.Inc(call.Prompt.Length);
        var finish = GenerationFinish.None;
        int generated = 0;
        try
        {
            using var onCancel = cancellationToken.Register(() => engine.Cancel(work));
            await foreach (var token in work.Output.Reader.ReadAllAsync(cancellationToken))
            {
                if (token.TokenId < 0)
                {
                    finish = token.Finish; // a cancellation marker, not a token
                    continue;
                }
                if (generated++ == 0) metrics.TimeToFirstToken.Observe(started.Elapsed.TotalSeconds);
                call.AllTokens.Add(token.TokenId);
                call.AllLogprobs.Add(token.Logprob);
                call.TailTokens.Add(token.TokenId);
                call.TailLogprobs.Add(token.Logprob);
                var piece = call.Text.Push(token.TokenId);
                if (token.Finish != GenerationFinish.None) finish = token.Finish;
                if (call.Text.Stopped)
                {
                    // A stop string appeared in the text: end the sequence now instead of generating past it.
                    finish = GenerationFinish.Stop;
                }
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
            engine.Cancel(work);
        }
        cancellationToken.ThrowIfCancellationRequested();
        call.Tail = call.Text.Flush();
        if (finish == GenerationFinish.None) finish = GenerationFinish.Cancelled;
        call.Finish = finish switch
        {
            GenerationFinish.Length => FinishReason.Length,
            GenerationFinish.Eos => FinishReason.Eos,
            GenerationFinish.Stop => FinishReason.Stop,
            _ => FinishReason.Cancelled,
        };
        call.Usage = new Usage { PromptTokens = call.Prompt.Length, CompletionTokens = call.AllTokens.Count };
    }

    private GenerateCall Prepare(GenerateRequest request)
    {
        int[] prompt = request.PromptCase switch
        {
            GenerateRequest.PromptOneofCase.Text => codec.Encode(request.Text),
            GenerateRequest.PromptOneofCase.Tokens => request.Tokens.Ids.ToArray(),
            _ => Throw<int[]>("a prompt is required: set text or tokens"),
        };
        if (prompt.Length == 0) RpcErrors.InvalidArgument("the prompt is empty");
        if (prompt.Length > options.MaxPromptTokens)
            RpcErrors.InvalidArgument($"the prompt has {prompt.Length} tokens; the limit is {options.MaxPromptTokens}");
        foreach (var id in prompt)
        {
            if (id < 0 || id >= codec.VocabSize)
                RpcErrors.InvalidArgument($"prompt token id {id} is outside the vocabulary [0, {codec.VocabSize})");
        }
        if (request.AdapterId.Length > 0 && !AdapterPathResolver.IsValidId(request.AdapterId))
            RpcErrors.InvalidArgument($"adapter id '{request.AdapterId}' must be letters, digits, '-', '_' or '.'");

        var s = request.Sampling ?? new SamplingOptions();
        if (s.MaxTokens < 0 || s.MaxTokens > options.MaxTokens)
            RpcErrors.InvalidArgument($"max_tokens {s.MaxTokens} must be between 0 (server default) and {options.MaxTokens}");
        if (s.Temperature < 0 || !float.IsFinite(s.Temperature)) RpcErrors.InvalidArgument("temperature must be >= 0");
        if (s.TopP < 0 || s.TopP > 1 || !float.IsFinite(s.TopP)) RpcErrors.InvalidArgument("top_p must be in [0, 1]");
        if (s.TopK < 0) RpcErrors.InvalidArgument("top_k must be >= 0");
        if (s.RepetitionPenalty < 0 || !float.IsFinite(s.RepetitionPenalty)) RpcErrors.InvalidArgument("repetition_penalty must be >= 0");
        if (s.Stop.Count > MaxStopStrings) RpcErrors.InvalidArgument($"at most {MaxStopStrings} stop strings");
        if (s.Stop.Any(string.IsNullOrEmpty)) RpcErrors.InvalidArgument("stop strings must not be empty");

        var sampling = new SamplingSettings(
            Temperature: s.Temperature,
            TopP: s.TopP == 0 ? 1 : s.TopP,
            TopK: s.TopK,
            RepetitionPenalty: s.RepetitionPenalty == 0 ? 1 : s.RepetitionPenalty,
            Seed: s.HasSeed ? s.Seed : null,
            MaxTokens: s.MaxTokens == 0 ? options.MaxTokens : s.MaxTokens,
            Logprobs: s.Logprobs);
        return new GenerateCall(prompt, request.AdapterId, sampling, new TextStream(codec.Decode, s.Stop.ToList()));
    }

    private static T Throw<T>(string message)
    {
        RpcErrors.InvalidArgument(message);
        return default;
    }

    /// <summary>One request's state while it runs.</summary>
    private sealed class GenerateCall(int[] prompt, string adapterId, SamplingSettings sampling, TextStream text)
    {
        public int[] Prompt { get; } = prompt;
        public string AdapterId { get; } = adapterId;
        public SamplingSettings Sampling { get; } = sampling;
        public TextStream Text { get; } = text;
        public List<int> TailTokens { get; } = [];
        public List<float> TailLogprobs { get; } = [];
        public string Tail { get; set; } = "";
        public List<int> AllTokens { get; } = [];
        public List<float> AllLogprobs { get; } = [];
        public FinishReason Finish { get; set; }
        public Usage Usage { get; set; } = new();
    }
}
