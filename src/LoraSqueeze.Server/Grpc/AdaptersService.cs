using Grpc.Core;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Protos.V1;
using LoraSqueeze.Server.Serving;

namespace LoraSqueeze.Server.Grpc;

/// <summary>Adapter lifecycle RPCs; Load and Unload need the admin token when one is configured.</summary>
internal sealed class AdaptersService(AdapterManager store, AdminAuthorization admin, PathRedactor paths) : Protos.V1.Adapters.AdaptersBase
{
    public override async Task<LoadAdapterResponse> Load(LoadAdapterRequest request, ServerCallContext context)
    {
        if (admin.Problem(context.RequestHeaders.GetValue("authorization")) is { } denied) RpcErrors.Unauthenticated(denied);
        RequireValidId(request.AdapterId);
        var (adapter, already) = await store.LoadAsync(request.AdapterId, request.Source,
            request.HasRank ? request.Rank : null, context.CancellationToken);
        return new LoadAdapterResponse { Adapter = adapter.ToProto(paths), AlreadyLoaded = already };
    }

    public override async Task<UnloadAdapterResponse> Unload(UnloadAdapterRequest request, ServerCallContext context)
    {
        if (admin.Problem(context.RequestHeaders.GetValue("authorization")) is { } denied) RpcErrors.Unauthenticated(denied);
        RequireValidId(request.AdapterId);
        bool unloaded = await store.UnloadAsync(request.AdapterId, context.CancellationToken);
        if (!unloaded && store.Get(request.AdapterId) is null)
            RpcErrors.NotFound($"adapter {AdapterPathResolver.Quote(request.AdapterId)} is not loaded and not found under the adapter roots");
        return new UnloadAdapterResponse { Unloaded = unloaded };
    }

    public override Task<ListAdaptersResponse> List(ListAdaptersRequest request, ServerCallContext context)
    {
        var reply = new ListAdaptersResponse();
        reply.Adapters.AddRange(store.List().Select(a => a.ToProto(paths)));
        return Task.FromResult(reply);
    }

    public override Task<AdapterInfo> Get(GetAdapterRequest request, ServerCallContext context)
    {
        RequireValidId(request.AdapterId);
        var adapter = store.Get(request.AdapterId);
        if (adapter is null)
            RpcErrors.NotFound($"adapter {AdapterPathResolver.Quote(request.AdapterId)} is not loaded and not found under the adapter roots");
        return Task.FromResult(adapter.ToProto(paths));
    }

    /// <summary>Load, Unload and Get answer a malformed id alike: INVALID_ARGUMENT, the id quoted and cut.</summary>
    private static void RequireValidId(string id)
    {
        if (!AdapterPathResolver.IsValidId(id))
            RpcErrors.InvalidArgument($"adapter id {AdapterPathResolver.Quote(id)} must be 1 to 128 letters, digits, '-', '_' or '.'");
    }
}
