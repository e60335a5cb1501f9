using System.Net;

namespace LoraSqueeze.LoadTest.Running;

/// <summary>
/// The load generator only ever sends to this machine: a load test pointed at a shared or production server by mistake
/// would be a denial of service. Targets must be http(s) URIs whose host is <c>localhost</c> or a loopback address.
/// </summary>
public static class LoopbackGuard
{
    public static Uri Check(string target)
    {
        if (!Uri.TryCreate(target, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            throw new ArgumentException($"target '{target}' is not an http:// or https:// address");
        bool loopback = uri.IsLoopback
            || string.Equals(uri.Host, "localhost", StringComparison.OrdinalIgnoreCase)
            || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
        if (!loopback)
            throw new ArgumentException($"target '{target}' is not a loopback address; the load generator only sends to 127.0.0.1, ::1 or localhost");
        return uri;
    }
}
