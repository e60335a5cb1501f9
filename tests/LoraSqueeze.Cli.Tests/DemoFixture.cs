using LoraSqueeze.Server.Hosting;

namespace LoraSqueeze.Cli.Tests;

/// <summary>The server's generated demo (tiny random Llama, BPE tokenizer, LoRA adapters of ranks 4, 8, 16), written once per run.</summary>
internal static class DemoFixture
{
    private static readonly Lazy<DemoAssetPaths> s_assets = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), "lsq-cli-tests-demo-" + Environment.ProcessId);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Best effort at exit.
            }
        };
        return DemoAssets.Ensure(dir);
    });

    public static DemoAssetPaths Assets => s_assets.Value;
}
