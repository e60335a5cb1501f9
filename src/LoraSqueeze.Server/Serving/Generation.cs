using LoraSqueeze.Engine;
using LoraSqueeze.Engine.Metrics;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Text;

namespace LoraSqueeze.Server.Serving;

/// <summary>
/// One request submitted to the engine, as a front end (gRPC or HTTP) relays it: reads its token events, turns them into
/// text with the request's <see cref="TextStreamer"/> (stop strings held back, then cut), and keeps what the final
/// answer needs (all tokens and events, the finish reason, the text). Disposing it stops the sequence on the engine if
/// it is still running (client gone, a sibling choice failed), so no row is left generating for nobody.
/// </summary>
public sealed class Generation : IDisposable
{
    private readonly InferenceEngine _engine;
    private readonly RequestHandle _handle;
    private readonly EngineMetrics _metrics;
    private readonly System.Diagnostics.Stopwatch _started;
    private readonly List<TokenEvent> _pending = [];

    internal Generation(InferenceEngine engine, RequestHandle handle, TextStreamer text, EngineMetrics metrics, System.Diagnostics.Stopwatch started)
    {
        _engine = engine;
        _handle = handle;
        Text = text;
        _metrics = metrics;
        _started = started;
    }

    public GenerationRequest Request => _handle.Request;

    public TextStreamer Text { get; }

    /// <summary>Every generated token's event, in order.</summary>
    public List<TokenEvent> Events { get; } = [];

    /// <summary>The prompt positions' logprobs, when the request asked for them (they come with the first token).</summary>
    public IReadOnlyList<PositionLogprobs>? PromptLogprobs { get; private set; }

    public FinishReason Finish { get; private set; }

    /// <summary>The text's held-back tail, flushed at the end (with the events that produced it in <see cref="TailEvents"/>).</summary>
    public string Tail { get; private set; } = "";

    public IReadOnlyList<TokenEvent> TailEvents => _pending;

    /// <summary>
    /// Relays tokens until the sequence finishes. <paramref name="onPiece"/> gets each new piece of text with the
    /// events of the tokens that produced it (tokens whose text is still held back wait for the next piece). A stop
    /// string ends the sequence at once. Throws what the engine failed the request with; on cancellation the
    /// sequence is stopped and <see cref="OperationCanceledException"/> propagates.
    /// </summary>
    public async Task RunAsync(Func<string, IReadOnlyList<TokenEvent>, Task> onPiece, CancellationToken cancellationToken)
    {
        var finish = FinishReason.None;
        try
        {
            using var onCancel = cancellationToken.Register(() => _engine.Cancel(_handle));
            await foreach (var token in _handle.Output.Reader.ReadAllAsync(cancellationToken))
            {
                if (Events.Count == 0)
                {
                    _metrics.TimeToFirstToken.Observe(_started.Elapsed.TotalSeconds);
                    PromptLogprobs = token.Prompt;
                }
                Events.Add(token);
                _pending.Add(token);
                var piece = Text.Push(token.TokenId);
                if (token.Finish != FinishReason.None) finish = token.Finish;
                // A stop string appeared in the text: end the sequence now instead of generating past it.
                if (Text.Stopped) finish = FinishReason.Stop;
                if (piece.Length > 0)
                {
                    await onPiece(piece, _pending.ToArray());
                    _pending.Clear();
                }
                if (Text.Stopped) break;
            }
        }
        finally
        {
            // Stops the sequence if it is still running (stop string, failed write, client gone); a no-op otherwise.
            _engine.Cancel(_handle);
        }
        cancellationToken.ThrowIfCancellationRequested();
        Tail = Text.Flush();
        Finish = finish == FinishReason.None ? FinishReason.Cancelled : finish;
    }

    /// <summary>Tokens generated (the completion's usage).</summary>
    public int CompletionTokens => Events.Count;

    public void Dispose() => _engine.Cancel(_handle);
}
