using System.Threading.Channels;
using LoraSqueeze.Server.Adapters;

namespace LoraSqueeze.Server.Engine;

/// <summary>
/// A generation request on its way through the engine. The engine writes tokens to <see cref="Output"/> and
/// completes it exactly once (finish, cancel or failure), then releases the adapter lease.
/// </summary>
public sealed class EngineRequest
{
    private static long s_nextId;
    private int _cancelRequested;

    public EngineRequest(int[] promptTokens, AdapterLease? adapter, SamplingSettings sampling)
    {
        Id = Interlocked.Increment(ref s_nextId);
        PromptTokens = promptTokens;
        Adapter = adapter;
        Sampling = sampling;
    }

    public long Id { get; }
    public int[] PromptTokens { get; }
    public AdapterLease? Adapter { get; }
    public SamplingSettings Sampling { get; }

    /// <summary>Tokens as they are generated; completed when the request leaves the engine.</summary>
    public Channel<GeneratedToken> Output { get; } =
        Channel.CreateUnbounded<GeneratedToken>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    /// <summary>Set by the engine thread when the request has left the engine.</summary>
    internal bool Finished { get; set; }

    internal bool CancelRequested => Volatile.Read(ref _cancelRequested) != 0;

    /// <summary>Marks the request cancelled; true the first time.</summary>
    internal bool MarkCancelled() => Interlocked.Exchange(ref _cancelRequested, 1) == 0;
}
