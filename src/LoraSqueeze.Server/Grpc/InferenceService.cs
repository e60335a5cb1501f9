using Grpc.Core;
using LoraSqueeze.Engine.Text;
using LoraSqueeze.Protos.V1;
using LoraSqueeze.Server.Hosting;
using LoraSqueeze.Server.Serving;

namespace LoraSqueeze.Server.Grpc;

/// <summary>
/// Inference RPCs. Thin: maps the wire request to the engine's (<see cref="GenerateRequestMapping"/>), starts it through
/// the <see cref="GenerationGateway"/> (validation, adapter pin, submit) and relays what the <see cref="Generation"/>
/// reads. No tensor is touched here. Behind a gateway that routes gRPC by adapter, the adapter may come from the
/// <c>x-llm-d-model-name-rewrite</c> header instead of the message.
/// </summary>
internal sealed class InferenceService(GenerationGateway gateway, ServerOptions options) : Inference.InferenceBase
{
    public override async Task<GenerateResponse> Generate(GenerateRequest request, ServerCallContext context)
    {
        using var generation = await StartAsync(request, context);
        await generation.RunAsync((_, _) => Task.CompletedTask, context.CancellationToken);
        var reply = new GenerateResponse { AdapterId = generation.Request.AdapterId ?? "" };
        reply.TokenIds.AddRange(generation.Events.Select(e => e.TokenId));
        if (generation.Request.Sampling.Logprobs) reply.Logprobs.AddRange(generation.Events.Select(e => e.Logprob));
        reply.Text = generation.Text.Text;
        reply.FinishReason = generation.Finish.ToWire();
        reply.Usage = Usage(generation);
        return reply;
    }

    public override async Task GenerateStream(GenerateRequest request, IServerStreamWriter<GenerateStreamResponse> responseStream,
        ServerCallContext context)
    {
        using var generation = await StartAsync(request, context);
        bool logprobs = generation.Request.Sampling.Logprobs;
        await generation.RunAsync(async (piece, events) =>
        {
            var message = new GenerateStreamResponse { Text = piece };
            message.TokenIds.AddRange(events.Select(e => e.TokenId));
            if (logprobs) message.Logprobs.AddRange(events.Select(e => e.Logprob));
            await responseStream.WriteAsync(message, context.CancellationToken);
        }, context.CancellationToken);
        var last = new GenerateStreamResponse { FinishReason = generation.Finish.ToWire(), Usage = Usage(generation), Text = generation.Tail };
        last.TokenIds.AddRange(generation.TailEvents.Select(e => e.TokenId));
        if (logprobs) last.Logprobs.AddRange(generation.TailEvents.Select(e => e.Logprob));
        await responseStream.WriteAsync(last, context.CancellationToken);
    }

    /// <summary>The llm-d router's header for gRPC pools: the adapter it picked, which wins over the message's.</summary>
    internal const string AdapterHeader = "x-llm-d-model-name-rewrite";

    private Task<Generation> StartAsync(GenerateRequest wire, ServerCallContext context)
    {
        var rewrite = context.RequestHeaders.GetValue(AdapterHeader);
        var request = wire.ToEngine(gateway.Codec, options.MaxTokens, rewrite);
        return gateway.StartAsync(request, context.CancellationToken);
    }

    private static Usage Usage(Generation g) =>
        new() { PromptTokens = g.Request.PromptTokens.Length, CompletionTokens = g.CompletionTokens };
}
