using System.Diagnostics.CodeAnalysis;
using Grpc.Core;

namespace LoraSqueeze.Server.Grpc;

/// <summary>
/// Throw helpers for the statuses the services raise themselves; everything the engine throws is mapped in one place
/// (<see cref="ErrorMappingInterceptor"/>).
/// </summary>
internal static class RpcErrors
{
    [DoesNotReturn]
    public static void InvalidArgument(string message) => throw new RpcException(new Status(StatusCode.InvalidArgument, message));

    [DoesNotReturn]
    public static void NotFound(string message) => throw new RpcException(new Status(StatusCode.NotFound, message));

    [DoesNotReturn]
    public static void Unauthenticated(string message) => throw new RpcException(new Status(StatusCode.Unauthenticated, message));
}
