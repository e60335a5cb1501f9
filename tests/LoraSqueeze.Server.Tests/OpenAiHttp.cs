using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// Plain HTTP calls to the OpenAI-compatible API, for what the official .NET library cannot send (legacy completions:
/// its LegacyCompletionClient has no public methods in 2.15.0; vLLM's extensions such as echo with logprobs) and for
/// reading raw bodies and SSE streams. Everything the library can do, the tests do with the library.
/// </summary>
internal static class OpenAiHttp
{
    private static readonly HttpClient s_http = new() { Timeout = TimeSpan.FromSeconds(60) };

    public static async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(TestServer server, string path, object body,
        string? bearer = null, CancellationToken ct = default)
    {
        using var request = Request(server, path, body, bearer);
        using var response = await s_http.SendAsync(request, ct);
        string text = await response.Content.ReadAsStringAsync(ct);
        JsonElement json = default;
        if (response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            using var doc = JsonDocument.Parse(text);
            json = doc.RootElement.Clone();
        }
        else
        {
            using var doc = JsonDocument.Parse(JsonSerializer.Serialize(text));
            json = doc.RootElement.Clone();
        }
        return (response.StatusCode, json);
    }

    /// <summary>A streamed call: every <c>data:</c> event's JSON, and whether the stream ended with <c>[DONE]</c>.</summary>
    public static async Task<(List<JsonElement> Events, bool Done)> StreamAsync(TestServer server, string path, object body)
    {
        using var request = Request(server, path, body, null);
        using var response = await s_http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<JsonElement>();
        bool done = false;
        while (await reader.ReadLineAsync() is { } line)
        {
            if (line.Length == 0) continue;
            Assert.StartsWith("data: ", line, StringComparison.Ordinal);
            string data = line["data: ".Length..];
            Assert.False(done, "an event after [DONE]");
            if (data == "[DONE]")
            {
                done = true;
                continue;
            }
            using var doc = JsonDocument.Parse(data);
            events.Add(doc.RootElement.Clone());
        }
        return (events, done);
    }

    public static HttpRequestMessage Request(TestServer server, string path, object body, string? bearer)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.OpenAiBaseUri + path))
        {
            Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
        };
        if (bearer is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", bearer);
        return request;
    }

    public static HttpClient Client => s_http;
}
