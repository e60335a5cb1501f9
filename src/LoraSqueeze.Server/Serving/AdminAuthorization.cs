using System.Security.Cryptography;
using System.Text;
using LoraSqueeze.Server.Hosting;

namespace LoraSqueeze.Server.Serving;

/// <summary>
/// Checks the <c>authorization: Bearer TOKEN</c> header of admin calls (gRPC Adapters.Load/Unload, HTTP
/// /v1/load_lora_adapter and /v1/unload_lora_adapter) when an admin token is configured.
/// </summary>
public sealed class AdminAuthorization(ServerOptions options)
{
    private readonly byte[] _token = Encoding.UTF8.GetBytes(options.AdminToken);

    /// <summary>Null when <paramref name="authorizationHeader"/> grants admin access, else what is wrong.</summary>
    public string? Problem(string? authorizationHeader)
    {
        if (_token.Length == 0) return null;
        const string Scheme = "Bearer ";
        if (authorizationHeader is null || !authorizationHeader.StartsWith(Scheme, StringComparison.OrdinalIgnoreCase))
            return "this call needs 'authorization: Bearer <admin token>'";
        var given = Encoding.UTF8.GetBytes(authorizationHeader[Scheme.Length..].Trim());
        // Constant-time compare so the token cannot be guessed byte by byte from response times.
        return CryptographicOperations.FixedTimeEquals(given, _token) ? null : "the admin token is wrong";
    }
}
