using System.Globalization;
using Grpc.Core;
using LoraSqueeze.Testing;

namespace LoraSqueeze.Server.Tests;

/// <summary>Reads the server's /metrics page and picks values out of it with the Testing project's Prometheus parser.</summary>
internal static class MetricsText
{
    private static readonly HttpClient s_http = new();

    public static Task<string> ReadAsync(TestServer server) => s_http.GetStringAsync(server.Endpoints.MetricsUri);

    /// <summary>Sum of the samples of <paramref name="name"/> whose labels contain every given label pair.</summary>
    public static double Value(string text, string name, params (string Key, string Value)[] labels) =>
        PrometheusText.Sum(PrometheusText.Parse(text), name, labels);

    /// <summary>Observations of a histogram above <paramref name="bound"/> (count minus the le=bound bucket).</summary>
    public static double HistogramCountAbove(string text, string name, double bound) =>
        Value(text, name + "_count") - Value(text, name + "_bucket", ("le", bound.ToString(CultureInfo.InvariantCulture)));
}

internal static class Eventually
{
    public static async Task True(Func<Task<bool>> condition, int timeoutMs = 5000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!await condition())
        {
            if (DateTime.UtcNow > until) Assert.Fail("condition not met in time");
            await Task.Delay(20);
        }
    }
}

internal static class RpcAssert
{
    /// <summary>The call fails with <paramref name="expected"/>; returns the exception for its message.</summary>
    public static async Task<RpcException> Fails(Func<Task> call, StatusCode expected)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(expected, ex.StatusCode);
        return ex;
    }
}

/// <summary>
/// Tests whose assertions are about time (a 300 ms deadline must stop a generation after a token or two) run alone,
/// after the parallel ones: with other test servers starting beside them on two cores, a first token could miss the
/// deadline altogether and the test would measure the machine, not the server.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class TimingSensitive
{
    public const string Name = "timing-sensitive";
}

/// <summary>Collects formatted log messages (thread-safe), for tests about what the server logs.</summary>
internal sealed class CapturingLoggerProvider : Microsoft.Extensions.Logging.ILoggerProvider
{
    public System.Collections.Concurrent.ConcurrentQueue<string> Messages { get; } = new();

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => new Logger(Messages);

    public void Dispose()
    {
    }

    private sealed class Logger(System.Collections.Concurrent.ConcurrentQueue<string> messages) : Microsoft.Extensions.Logging.ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state,
            Exception? exception, Func<TState, Exception?, string> formatter) => messages.Enqueue(formatter(state, exception));
    }
}
