using Microsoft.Extensions.Configuration;

namespace LoraSqueeze.Server.Hosting;

/// <summary>
/// Reads <see cref="ServerOptions"/> with the documented precedence: appsettings.json (next to the program: the shipped
/// defaults, which a rebuild overwrites), then the operator's own file (<c>--config FILE</c>, never copied over), then
/// environment variables prefixed <c>LORASQUEEZE_</c> (<c>LORASQUEEZE_SERVER__PORT=50052</c>), then CLI flags, which
/// the caller applies last through <c>overrides</c>.
/// </summary>
public static class ServerConfiguration
{
    /// <summary>
    /// Throws <see cref="ArgumentException"/> for a configuration that cannot be what the operator meant: a JSON syntax
    /// error in appsettings.json (with its line), or a key under <c>Server</c> that no option has (a typo such as
    /// <c>TargetRnak</c> would otherwise run silently at the default).
    /// </summary>
    public static ServerOptions Load(string? basePath = null, Action<ServerOptions>? overrides = null, string? configFile = null)
    {
        var dir = basePath ?? AppContext.BaseDirectory;
        IConfigurationRoot configuration;
        if (configFile is not null && !File.Exists(configFile))
            throw new ArgumentException($"--config {configFile}: no such file");
        try
        {
            var builder = new ConfigurationBuilder()
                .SetBasePath(dir)
                .AddJsonFile("appsettings.json", optional: true);
            if (configFile is not null) builder.AddJsonFile(Path.GetFullPath(configFile), optional: false);
            configuration = builder.AddEnvironmentVariables("LORASQUEEZE_").Build();
        }
        catch (InvalidDataException ex)
        {
            // The innermost error is the JSON parser's, with the line and position.
            var inner = (Exception)ex;
            while (inner.InnerException is not null) inner = inner.InnerException;
            var detail = inner.Message;
            throw new ArgumentException($"{ex.Message.TrimEnd('.')}: not valid JSON: {detail}", ex);   // names the file
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
