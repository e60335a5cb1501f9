namespace LoraSqueeze.LoadTest.Running;

/// <summary>Which door of the server the load goes through.</summary>
public enum LoadApi
{
    /// <summary>gRPC <c>Inference.GenerateStream</c>.</summary>
    Grpc,

    /// <summary>The OpenAI-compatible HTTP API: streamed <c>/v1/completions</c> (what gateways and SDKs send).</summary>
    OpenAi,
}
