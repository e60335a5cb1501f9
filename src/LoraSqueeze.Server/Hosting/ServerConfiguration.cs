using Microsoft.Extensions.Configuration;

namespace LoraSqueeze.Server.Hosting;

/// <summary>
/// Reads <see cref="ServerOptions"/> with the documented precedence: appsettings.json (next to the program), then
/// environment variables prefixed <c>LORASQUEEZE_</c> (<c>LORASQUEEZE_SERVER__PORT=50052</c>), then CLI flags, which
/// the caller applies last through <paramref name="overrides"/>.
/// </summary>
public static class ServerConfiguration
{
    public static ServerOptions Load(string? basePath = null, Action<ServerOptions>? overrides = null)
    {
        var configuration = new ConfigurationBuilder()
            .SetBasePath(basePath ?? AppContext.BaseDirectory)
            .AddJsonFile("appsettings.json", optional: true)
            .AddEnvironmentVariables("LORASQUEEZE_")
            .Build();
        var options = new ServerOptions();
        configuration.GetSection(ServerOptions.SectionName).Bind(options);
        overrides?.Invoke(options);
        return options;
    }
}
