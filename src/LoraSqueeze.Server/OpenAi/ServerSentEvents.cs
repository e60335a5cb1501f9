using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace LoraSqueeze.Server.OpenAi;

/// <summary>
/// A <c>text/event-stream</c> response as OpenAI streams it: <c>data: {json}</c> events, each flushed at once, ending
/// with <c>data: [DONE]</c>. Writes are serialised, so the choices of one request (n &gt; 1) can write concurrently.
/// </summary>
internal sealed class ServerSentEvents(HttpResponse response) : IDisposable
{
    private static readonly byte[] Done = Encoding.UTF8.GetBytes("data: [DONE]\n\n");
    private readonly SemaphoreSlim _gate = new(1, 1);

    public bool Started { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";   // nginx and similar proxies: do not buffer the stream
        await response.StartAsync(cancellationToken);
        Started = true;
    }

    public Task SendAsync<T>(T payload, CancellationToken cancellationToken) =>
        WriteAsync(Encoding.UTF8.GetBytes("data: " + JsonSerializer.Serialize(payload, OpenAiJson.Options) + "\n\n"), cancellationToken);

    public Task SendErrorAsync(OpenAiError error, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        buffer.Write("data: "u8);
        using (var w = new Utf8JsonWriter(buffer, OpenAiError.WriterOptions)) error.WriteTo(w);
        buffer.Write("\n\n"u8);
        return WriteAsync(buffer.ToArray(), cancellationToken);
    }

    public Task DoneAsync(CancellationToken cancellationToken) => WriteAsync(Done, cancellationToken);

    private async Task WriteAsync(byte[] bytes, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await response.Body.WriteAsync(bytes, cancellationToken);
            await response.Body.FlushAsync(cancellationToken);
        }
        finally
        {
            _gate.Release();
        }
    }

    public void Dispose() => _gate.Dispose();
}
