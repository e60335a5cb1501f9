using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using LoraSqueeze.LoadTest.Workload;

namespace LoraSqueeze.LoadTest.Running;

/// <summary>
/// The OpenAI-compatible HTTP API: a streamed <c>POST {base}/completions</c> with the prompt as token ids, the
/// adapter as <c>model</c> (the base model's served name for base requests) and <c>stream_options.include_usage</c>.
/// Status: "OK", "HTTP 429" and the like, "Stream error" (an error event after the stream began), "Disconnected" (the
/// stream ended without <c>[DONE]</c>: a replica died mid-answer) or "Cancelled".
/// </summary>
public sealed class OpenAiLoadTarget(Uri baseUri, string baseModel) : ILoadTarget
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { MaxConnectionsPerServer = 1024, PooledConnectionLifetime = TimeSpan.FromSeconds(30) })
    {
        Timeout = Timeout.InfiniteTimeSpan,
    };
    private readonly Uri _completions = new(baseUri.ToString().TrimEnd('/') + "/completions");

    public async Task<RequestResult> SendAsync(PlannedRequest request, Stopwatch clock, LoadOptions options, CancellationToken ct)
    {
        string body = JsonSerializer.Serialize(new
        {
            model = request.AdapterId.Length == 0 ? baseModel : request.AdapterId,
            prompt = request.PromptTokens,
            max_tokens = request.MaxTokens,
            min_tokens = request.MinTokens,
            temperature = 0,
            stream = true,
            stream_options = new { include_usage = true },
        });
        double start = clock.Elapsed.TotalSeconds;
        double? ttft = null;
        int completion = 0, promptTokens = 0;
        string status = "OK";
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(options.RequestDeadline);
        try
        {
            using var message = new HttpRequestMessage(HttpMethod.Post, _completions) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
            message.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            using var response = await _http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead, deadline.Token);
            if (!response.IsSuccessStatusCode)
            {
                status = string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)response.StatusCode}");
            }
            else
            {
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(deadline.Token));
                bool done = false;
                while (await reader.ReadLineAsync(deadline.Token) is { } line)
                {
                    if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                    var data = line.AsSpan(6);
                    if (data.SequenceEqual("[DONE]"))
                    {
                        done = true;
                        break;
                    }
                    using var doc = JsonDocument.Parse(data.ToString());
                    var root = doc.RootElement;
                    if (root.TryGetProperty("error", out _))
                    {
                        status = "Stream error";
                        continue;
                    }
                    if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object)
                    {
                        promptTokens = usage.GetProperty("prompt_tokens").GetInt32();
                        completion = usage.GetProperty("completion_tokens").GetInt32();
                    }
                    foreach (var choice in root.GetProperty("choices").EnumerateArray())
                    {
                        if (ttft is null && choice.GetProperty("text").GetString() is { Length: > 0 }) ttft = clock.Elapsed.TotalSeconds - start;
                    }
                }
                if (!done && status == "OK") status = "Disconnected";
            }
        }
        catch (OperationCanceledException)
        {
            status = ct.IsCancellationRequested ? "Cancelled" : "DeadlineExceeded";
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            status = "Disconnected";   // the replica went away (refused, reset, or the stream cut)
        }
        if (status != "OK") completion = 0;
        return new RequestResult(request.Index, request.AdapterId, start, clock.Elapsed.TotalSeconds, ttft,
            promptTokens == 0 ? request.PromptTokens.Length : promptTokens, completion, status);
    }

    public void Dispose() => _http.Dispose();
}
