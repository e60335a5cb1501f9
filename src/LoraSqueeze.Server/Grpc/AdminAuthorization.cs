using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using LoraSqueeze.Server.Hosting;

namespace LoraSqueeze.Server.Grpc;

/// <summary>Checks the <c>authorization: Bearer TOKEN</c> header of admin RPCs when an admin token is configured.</summary>
internal sealed class AdminAuthorization(ServerOptions options)
{
    private readonly byte[] _token = Encoding.UTF8.GetBytes(options.AdminToken);

    public void Demand(ServerCallContext context)
    {
        if (_token.Length == 0) return;
        var header = context.RequestHeaders.GetValue("authorization");
        const string Scheme = "Bearer ";
        if (header is null || !header.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
            RpcErrors.Unauthenticated("this RPC needs 'authorization: Bearer <admin token>'");
        var given = Encoding.UTF8.GetBytes(header[Scheme.Length..].Trim());
        // Constant-time compare so the token cannot be guessed byte by byte from response times.
        if (!CryptographicOperations.FixedTimeEquals(given, _token))
            RpcErrors.Unauthenticated("the admin token is wrong");
    }
}
