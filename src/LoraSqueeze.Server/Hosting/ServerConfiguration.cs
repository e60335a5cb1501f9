using Microsoft.Extensions.Configuration;

namespace LoraSqueeze.Server.Hosting;

/// <summary>
/// Reads <see cref="ServerOptions"/> with the documented precedence: appsettings.json (next to the program), then
/// environment variables prefixed <c>LORASQUEEZE_</c> (<c>LORASQUEEZE_SERVER__PORT=50052</c>), then CLI flags, which
/// the caller applies last through <paramref name="overrides"/>.
/// </summary>
public static class ServerConfiguration
{
    /// <summary>
    /// Throws <see cref="ArgumentException"/> for a configuration that cannot be what the operator meant: a JSON syntax
    /// error in appsettings.json (with its line), or a key under <c>Server</c> that no option has (a typo such as
    /// <c>TargetRnak</c> would otherwise run silently at the default).
    /// </summary>
    public static ServerOptions Load(string? basePath = null, Action<ServerOptions>? overrides = null)
    {
        var dir = basePath ?? AppContext.BaseDirectory;
        IConfigurationRoot configuration;
        try
        {
            configuration = new ConfigurationBuilder()
                .SetBasePath(dir)
                .AddJsonFile("appsettings.json", optional: true)
                .AddEnvironmentVariables("LORASQUEEZE_")
                .Build();
        }
        catch (InvalidDataException ex)
        {
            // The innermost error is the JSON parser's, with the line and position.
            var inner = (Exception)ex;
            while (inner.InnerException is not null) inner = inner.InnerException;
            var detail = inner.Message;
            throw new ArgumentException($"{Path.Combine(dir, "appsettings.json")} is not valid JSON: {detail}", ex);
        }
        var options = new ServerOptions();
        try
        {
            configuration.GetSection(ServerOptions.SectionName).Bind(options, binder => binder.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException ex)
        {
            var unknown = configuration.GetSection(ServerOptions.SectionName).GetChildren().Select(c => c.Key)
                .Where(k => typeof(ServerOptions).GetProperty(k, System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance
                    | System.Reflection.BindingFlags.IgnoreCase) is null)
                .ToList();
            throw new ArgumentException(unknown.Count > 0
                ? $"unknown configuration key(s) {string.Join(", ", unknown.Select(k => $"Server:{k}"))} (in appsettings.json or LORASQUEEZE_SERVER__ variables)"
                : $"configuration: {ex.Message}", ex);
        }
        overrides?.Invoke(options);
        return options;
    }
}
