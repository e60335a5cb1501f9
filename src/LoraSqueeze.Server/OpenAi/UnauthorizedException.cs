namespace LoraSqueeze.Server.OpenAi;

/// <summary>An admin endpoint called without the right <c>Authorization: Bearer</c> token: 401.</summary>
public sealed class UnauthorizedException(string message) : Exception(message);
