using System.Threading.Channels;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Engine.Requests;

namespace LoraSqueeze.Engine;

/// <summary>
/// A submitted request on its way through the engine, as its front end holds it. The engine writes its tokens to
/// <see cref="Output"/> and completes it exactly once (finish, cancel or failure), then releases the adapter lease.
/// </summary>
public sealed class RequestHandle(GenerationRequest request, AdapterLease? adapter)
{
    private int _cancelRequested;

    public GenerationRequest Request { get; } = request;
    public long Id => Request.Id;
    public AdapterLease? Adapter { get; } = adapter;

    /// <summary>Tokens as they are generated; completed when the request leaves the engine.</summary>
    public Channel<TokenEvent> Output { get; } =
        Channel.CreateUnbounded<TokenEvent>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    /// <summary>When the request was submitted (<see cref="System.Diagnostics.Stopwatch"/> ticks), for the queue-wait histogram.</summary>
    internal long SubmittedAt { get; set; }

    /// <summary>Set by the engine thread when the request has left the engine.</summary>
    internal bool Finished { get; set; }

    internal bool CancelRequested => Volatile.Read(ref _cancelRequested) != 0;

    /// <summary>Marks the request cancelled; true the first time.</summary>
    internal bool MarkCancelled() => Interlocked.Exchange(ref _cancelRequested, 1) == 0;
}
