namespace LoraSqueeze.Server.OpenAi;

/// <summary>A body over <see cref="OpenAiRequestBody.MaxBytes"/>: 413.</summary>
public sealed class PayloadTooLargeException(int limit) : Exception($"the request body exceeds {limit} bytes");
