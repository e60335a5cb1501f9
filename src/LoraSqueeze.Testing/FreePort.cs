using System.Net;
using System.Net.Sockets;

namespace LoraSqueeze.Testing;

/// <summary>Free loopback TCP ports, for processes that must be told their port before they bind.</summary>
public static class FreePort
{
    /// <summary>A port the OS reports free now (bind port 0, read it, release it).</summary>
    public static int Next()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
