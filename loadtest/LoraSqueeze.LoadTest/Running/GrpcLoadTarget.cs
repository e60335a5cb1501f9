using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using LoraSqueeze.LoadTest.Workload;
using LoraSqueeze.Protos.V1;

namespace LoraSqueeze.LoadTest.Running;

/// <summary>gRPC <c>GenerateStream</c> with token-id prompts; status = the gRPC status name.</summary>
public sealed class GrpcLoadTarget : ILoadTarget
{
    private readonly GrpcChannel _channel;
    private readonly Inference.InferenceClient _client;

    public GrpcLoadTarget(Uri target)
    {
        _channel = GrpcChannel.ForAddress(target, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
        });
        _client = new Inference.InferenceClient(_channel);
    }

    public async Task<RequestResult> SendAsync(PlannedRequest request, Stopwatch clock, LoadOptions options, CancellationToken ct)
    {
        var message = new GenerateRequest
        {
            Tokens = new TokenIds(),
            AdapterId = request.AdapterId,
            Sampling = new SamplingOptions { MaxTokens = request.MaxTokens, MinTokens = request.MinTokens, Temperature = 0 },
        };
        message.Tokens.Ids.AddRange(request.PromptTokens);
        double start = clock.Elapsed.TotalSeconds;
        double? ttft = null;
        int completion = 0, promptTokens = 0;
        string status = "OK";
        try
        {
            using var call = _client.GenerateStream(message, deadline: DateTime.UtcNow + options.RequestDeadline, cancellationToken: ct);
            await foreach (var piece in call.ResponseStream.ReadAllAsync(ct))
            {
                if (ttft is null && piece.TokenIds.Count > 0) ttft = clock.Elapsed.TotalSeconds - start;
                completion += piece.TokenIds.Count;
                if (piece.Usage is { } usage)
                {
                    promptTokens = usage.PromptTokens;
                    completion = usage.CompletionTokens;
                }
            }
        }
        catch (RpcException ex)
        {
            status = ex.StatusCode.ToString();
        }
        catch (OperationCanceledException)
        {
            status = nameof(StatusCode.Cancelled);
        }
        if (status != "OK") completion = 0;
        return new RequestResult(request.Index, request.AdapterId, start, clock.Elapsed.TotalSeconds, ttft,
            promptTokens == 0 ? request.PromptTokens.Length : promptTokens, completion, status);
    }

    public void Dispose() => _channel.Dispose();
}
