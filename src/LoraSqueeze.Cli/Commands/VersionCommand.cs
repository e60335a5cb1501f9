using System.CommandLine;
using System.Reflection;
using System.Text.Json;
using LoraSqueeze.Core.Torch;

namespace LoraSqueeze.Cli.Commands;

/// <summary><c>lorasqueeze --version [--json]</c>: version, torch backend and the device the backend sees.</summary>
public static class VersionCommand
{
    public static void Attach(RootCommand root)
    {
        // Replace System.CommandLine's built-in --version, which prints only the assembly version.
        foreach (var builtIn in root.Options.OfType<VersionOption>().ToList()) root.Options.Remove(builtIn);
        var version = new Option<bool>("--version") { Description = "Print the version, torch backend and device." };
        var json = new Option<bool>("--json") { Description = "Machine-readable output (with --version)." };
        root.Options.Add(version);
        root.Options.Add(json);
        root.SetAction(parse =>
        {
            if (!parse.GetValue(version))
            {
                // No verb: show help, like git does.
                return root.Parse("--help").Invoke();
            }
            var info = Describe();
            if (parse.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(info, CliJson.Options));
            else
                Console.WriteLine($"lorasqueeze {info.Version} (TorchSharp {info.TorchSharp}, backend {info.Backend}, device {info.Device})");
            return 0;
        });
    }

    public sealed record VersionInfo(string Version, string TorchSharp, string Backend, string Device, int Threads);

    public static VersionInfo Describe()
    {
        TorchRuntime.EnsureInitialized();
        var asm = typeof(VersionCommand).Assembly;
        var ver = asm.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
        int plus = ver.IndexOf('+', StringComparison.Ordinal);
        if (plus > 0) ver = ver[..plus];
        var device = TorchSharp.torch.cuda.is_available() ? $"cuda ({TorchSharp.torch.cuda.device_count()} device(s))" : "cpu";
        return new VersionInfo(ver, TorchRuntime.TorchSharpVersion, TorchRuntime.Backend, device, TorchSharp.torch.get_num_threads());
    }
}
