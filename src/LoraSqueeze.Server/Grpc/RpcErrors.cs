using System.Diagnostics.CodeAnalysis;
using Grpc.Core;

namespace LoraSqueeze.Server.Grpc;

/// <summary>One throw helper per gRPC status the server answers with, so every error path reads the same.</summary>
internal static class RpcErrors
{
    [DoesNotReturn]
    public static void InvalidArgument(string message) => throw new RpcException(new Status(StatusCode.InvalidArgument, message));

    [DoesNotReturn]
    public static void NotFound(string message) => throw new RpcException(new Status(StatusCode.NotFound, message));

    [DoesNotReturn]
    public static void PermissionDenied(string message) => throw new RpcException(new Status(StatusCode.PermissionDenied, message));

    [DoesNotReturn]
    public static void Unauthenticated(string message) => throw new RpcException(new Status(StatusCode.Unauthenticated, message));

    [DoesNotReturn]
    public static void ResourceExhausted(string message) => throw new RpcException(new Status(StatusCode.ResourceExhausted, message));

    [DoesNotReturn]
    public static void FailedPrecondition(string message) => throw new RpcException(new Status(StatusCode.FailedPrecondition, message));

    [DoesNotReturn]
    public static void Unavailable(string message) => throw new RpcException(new Status(StatusCode.Unavailable, message));

    [DoesNotReturn]
    public static void Internal(string message) => throw new RpcException(new Status(StatusCode.Internal, message));
}
