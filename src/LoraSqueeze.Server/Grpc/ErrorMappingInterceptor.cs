using Grpc.Core;
using Grpc.Core.Interceptors;
using LoraSqueeze.Server.Serving;
using LoraSqueeze.Engine;
using LoraSqueeze.Engine.Adapters;

namespace LoraSqueeze.Server.Grpc;

/// <summary>
/// Maps domain exceptions to gRPC statuses in one place, so services stay thin and every RPC answers the same way:
/// unknown adapter → NOT_FOUND, path outside the roots → PERMISSION_DENIED, broken adapter → FAILED_PRECONDITION
/// (with the loader's message naming the file or tensor), bad arguments → INVALID_ARGUMENT, engine down → UNAVAILABLE.
/// </summary>
internal sealed class ErrorMappingInterceptor(PathRedactor paths) : Interceptor
{
    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request,
        ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            return await continuation(request, context);
        }
        catch (Exception ex) when (Map(ex) is { } mapped)
        {
            throw new RpcException(new Status(mapped.StatusCode, paths.Redact(mapped.Status.Detail)));
        }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try
        {
            await continuation(request, responseStream, context);
        }
        catch (Exception ex) when (Map(ex) is { } mapped)
        {
            throw new RpcException(new Status(mapped.StatusCode, paths.Redact(mapped.Status.Detail)));
        }
    }

    internal static RpcException? Map(Exception ex) => ex switch
    {
        RpcException or OperationCanceledException => null,
        Serving.QueueFullException e => new RpcException(new Status(StatusCode.ResourceExhausted, e.Message)),
        AdapterNotFoundException e => new RpcException(new Status(StatusCode.NotFound, e.Message)),
        AdapterPathException e => new RpcException(new Status(StatusCode.PermissionDenied, e.Message)),
        AdapterLoadException e => new RpcException(new Status(StatusCode.FailedPrecondition, e.Message)),
        NonFiniteOutputException e => new RpcException(new Status(StatusCode.FailedPrecondition, e.Message)),
        DirectoryNotFoundException e => new RpcException(new Status(StatusCode.NotFound, e.Message)),
        EngineUnavailableException e => new RpcException(new Status(StatusCode.Unavailable, e.Message)),
        ArgumentException e => new RpcException(new Status(StatusCode.InvalidArgument, e.Message)),
        InvalidOperationException e => new RpcException(new Status(StatusCode.FailedPrecondition, e.Message)),
        _ => new RpcException(new Status(StatusCode.Internal, ex.Message)),
    };
}
