using System.Net;

namespace LoraSqueeze.Server.Hosting;

/// <summary>The addresses the server is bound to; with port 0 in configuration, the ports the OS chose.</summary>
public sealed class ServerEndpoints
{
    internal Func<IPEndPoint>? GrpcSource { get; set; }
    internal Func<IPEndPoint>? MetricsSource { get; set; }
    internal Func<IPEndPoint>? HttpSource { get; set; }

    /// <summary>The OpenAI-compatible HTTP API's listener.</summary>
    public IPEndPoint Http => HttpSource?.Invoke() ?? throw new InvalidOperationException("the server is not bound yet");

    /// <summary>The OpenAI base URL clients use: <c>http://host:port/v1</c>.</summary>
    public Uri OpenAiBaseUri => new($"http://{Format(Http)}/v1");

    public IPEndPoint Grpc => GrpcSource?.Invoke() ?? throw new InvalidOperationException("the server is not bound yet");

    public IPEndPoint Metrics => MetricsSource?.Invoke() ?? throw new InvalidOperationException("the server is not bound yet");

    public Uri GrpcUri => new($"http://{Format(Grpc)}");

    public Uri MetricsUri => new($"http://{Format(Metrics)}/metrics");

    private static string Format(IPEndPoint ep) =>
        ep.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ep.Address}]:{ep.Port}" : $"{ep.Address}:{ep.Port}";
}
