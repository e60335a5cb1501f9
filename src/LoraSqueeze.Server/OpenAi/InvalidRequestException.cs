namespace LoraSqueeze.Server.OpenAi;

/// <summary>A request the HTTP API refuses (400): <see cref="Param"/> names the JSON field, the message says what is wrong.</summary>
public sealed class InvalidRequestException(string? param, string message) : Exception(message)
{
    public string? Param { get; } = param;
}
