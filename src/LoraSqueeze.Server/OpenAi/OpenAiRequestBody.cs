using System.Text.Json;

namespace LoraSqueeze.Server.OpenAi;

/// <summary>
/// A request's JSON body with typed, field-named reads: every wrong type or range is an
/// <see cref="InvalidRequestException"/> naming the field, and unknown fields are ignored (as OpenAI does). The body is
/// read with a size cap before parsing, so a huge body is refused, not buffered.
/// </summary>
internal sealed class OpenAiRequestBody(JsonElement root)
{
    /// <summary>The largest body accepted (the gRPC door's limit too).</summary>
    public const int MaxBytes = 4 << 20;

    private static readonly JsonDocumentOptions Options = new() { MaxDepth = 64 };

    public JsonElement Root { get; } = root;

    public static async Task<(OpenAiRequestBody Body, JsonDocument Document)> ReadAsync(Microsoft.AspNetCore.Http.HttpRequest request, CancellationToken cancellationToken)
    {
        if (request.ContentLength > MaxBytes) throw new PayloadTooLargeException(MaxBytes);
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int n;
        while ((n = await request.Body.ReadAsync(chunk, cancellationToken)) > 0)
        {
            if (buffer.Length + n > MaxBytes) throw new PayloadTooLargeException(MaxBytes);
            buffer.Write(chunk, 0, n);
        }
        if (buffer.Length == 0) throw new InvalidRequestException(null, "the request body is empty; send a JSON object");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(buffer.GetBuffer().AsMemory(0, (int)buffer.Length), Options);
        }
        catch (JsonException e)
        {
            throw new InvalidRequestException(null, $"the request body is not valid JSON: {e.Message}");
        }
        if (doc.RootElement.ValueKind != JsonValueKind.Object)
        {
            doc.Dispose();
            throw new InvalidRequestException(null, "the request body must be a JSON object");
        }
        return (new OpenAiRequestBody(doc.RootElement), doc);
    }

    /// <summary>The field, or null when absent or JSON null.</summary>
    public JsonElement? Get(string name) =>
        Root.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    public string RequiredString(string name) =>
        OptionalString(name) ?? throw new InvalidRequestException(name, $"'{name}' is required");

    public string? OptionalString(string name) => Get(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.String } v => v.GetString(),
        _ => throw new InvalidRequestException(name, $"'{name}' must be a string"),
    };

    public bool? OptionalBool(string name) => Get(name) switch
    {
        null => null,
        { ValueKind: JsonValueKind.True } => true,
        { ValueKind: JsonValueKind.False } => false,
        _ => throw new InvalidRequestException(name, $"'{name}' must be a boolean"),
    };

    public int? OptionalInt(string name, int min, int max)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x))
            throw new InvalidRequestException(name, $"'{name}' must be an integer");
        if (x < min || x > max) throw new InvalidRequestException(name, $"'{name}' must be in [{min}, {max}] (got {x})");
        return (int)x;
    }

    public long? OptionalLong(string name)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x))
            throw new InvalidRequestException(name, $"'{name}' must be an integer");
        return x;
    }

    public float? OptionalFloat(string name, double min, double max)
    {
        if (Get(name) is not { } v) return null;
        if (v.ValueKind != JsonValueKind.Number) throw new InvalidRequestException(name, $"'{name}' must be a number");
        double x = v.GetDouble();
        if (!(x >= min && x <= max)) throw new InvalidRequestException(name, $"'{name}' must be in [{min}, {max}] (got {x})");
        return (float)x;
    }

    /// <summary><c>stop</c>: a string or a list of strings (at most <paramref name="max"/>, none empty).</summary>
    public List<string> StringOrList(string name, int max)
    {
        switch (Get(name))
        {
            case null:
                return [];
            case { ValueKind: JsonValueKind.String } s:
                return s.GetString()!.Length == 0 ? throw new InvalidRequestException(name, $"'{name}' must not be empty") : [s.GetString()!];
            case { ValueKind: JsonValueKind.Array } a:
                var list = new List<string>();
                foreach (var e in a.EnumerateArray())
                {
                    if (e.ValueKind != JsonValueKind.String || e.GetString()!.Length == 0)
                        throw new InvalidRequestException(name, $"'{name}' must hold non-empty strings");
                    list.Add(e.GetString()!);
                }
                if (list.Count > max) throw new InvalidRequestException(name, $"'{name}' holds {list.Count} strings; at most {max}");
                return list;
            default:
                throw new InvalidRequestException(name, $"'{name}' must be a string or a list of strings");
        }
    }

    /// <summary>A list of token ids (integers ≥ 0).</summary>
    public static int[] TokenIds(JsonElement array, string name)
    {
        var ids = new int[array.GetArrayLength()];
        int i = 0;
        foreach (var e in array.EnumerateArray())
        {
            if (e.ValueKind != JsonValueKind.Number || !e.TryGetInt32(out int id) || id < 0)
                throw new InvalidRequestException(name, $"'{name}' token ids must be non-negative integers");
            ids[i++] = id;
        }
        return ids;
    }
}
