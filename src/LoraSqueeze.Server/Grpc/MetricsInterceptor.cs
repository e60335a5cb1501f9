using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using LoraSqueeze.Engine.Metrics;

namespace LoraSqueeze.Server.Grpc;

/// <summary>Counts every RPC by method and final status and times it end to end (outermost interceptor).</summary>
internal sealed class MetricsInterceptor(EngineMetrics metrics) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request,
        ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            var response = await continuation(request, context);
            Record(context, StatusCode.OK, watch);
            return response;
        }
        catch (Exception ex)
        {
            Record(context, StatusOf(ex, context), watch);
            throw;
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        var watch = Stopwatch.StartNew();
        try
        {
            await continuation(request, responseStream, context);
            Record(context, StatusCode.OK, watch);
        }
        catch (Exception ex)
        {
            Record(context, StatusOf(ex, context), watch);
            throw;
        }
    }

    private static StatusCode StatusOf(Exception ex, ServerCallContext context) => ex switch
    {
        RpcException rpc => rpc.StatusCode,
        OperationCanceledException when context.Deadline <= DateTime.UtcNow => StatusCode.DeadlineExceeded,
        OperationCanceledException => StatusCode.Cancelled,
        _ => StatusCode.Unknown,
    };

    private void Record(ServerCallContext context, StatusCode status, Stopwatch watch)
    {
        // "/lorasqueeze.v1.Inference/Generate" → "Inference/Generate": a fixed set of values.
        var method = context.Method.TrimStart('/');
        int dot = method.LastIndexOf('.', method.IndexOf('/', StringComparison.Ordinal) is var slash and > 0 ? slash : method.Length - 1);
        if (dot >= 0) method = method[(dot + 1)..];
        metrics.Requests.WithLabels(method, status.ToString()).Inc();
        metrics.RequestDuration.WithLabels(method).Observe(watch.Elapsed.TotalSeconds);
    }
}
