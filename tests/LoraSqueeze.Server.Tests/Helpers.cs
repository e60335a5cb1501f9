using System.Globalization;
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
