using System.Threading.Channels;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Engine.Adapters;

namespace LoraSqueeze.Engine;

/// <summary>
/// The engine thread's one command channel: front ends post submits and cancels, the adapter manager posts frees
/// (tensors are only ever freed on the engine thread, which owns them). The manager knows this mailbox, not the engine.
/// </summary>
public sealed class EngineMailbox
{
    private readonly Channel<EngineCommand> _channel =
        Channel.CreateUnbounded<EngineCommand>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>False once the engine has stopped (then nothing will run the command).</summary>
    public bool TryPost(EngineCommand command) => _channel.Writer.TryWrite(command);

    internal bool TryRead(out EngineCommand command) => _channel.Reader.TryRead(out command!);

    /// <summary>Engine thread, when idle: blocks until a command arrives or <paramref name="timeout"/> passes.</summary>
    internal void WaitForCommand(TimeSpan timeout)
    {
        var wait = _channel.Reader.WaitToReadAsync();
        if (wait.IsCompleted) return;
        wait.AsTask().Wait(timeout);
    }

    /// <summary>No more commands (shutdown); what is queued can still be read.</summary>
    internal void Close() => _channel.Writer.TryComplete();
}

/// <summary>A command for the engine thread.</summary>
public abstract record EngineCommand;

/// <summary>Queue a request for admission.</summary>
public sealed record SubmitCommand(RequestHandle Request) : EngineCommand;

/// <summary>Stop a request wherever it is.</summary>
public sealed record CancelCommand(RequestHandle Request) : EngineCommand;

/// <summary>Free host factors nobody holds any more (host eviction, last lease of an uncached adapter).</summary>
public sealed record DisposeWeightsCommand(LoraWeights Weights) : EngineCommand;

/// <summary>An unloaded adapter's last lease ended: free its slot and factors, then report it drained.</summary>
public sealed record DrainAdapterCommand(AdapterRecord Record) : EngineCommand;
