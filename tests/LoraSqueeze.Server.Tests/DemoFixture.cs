using LoraSqueeze.Server.Hosting;

namespace LoraSqueeze.Server.Tests;

/// <summary>Demo assets written once per test run (model, tokenizer, adapters of ranks 4, 8 and 16).</summary>
public static class DemoFixture // also compiled into LoraSqueeze.Cli.Tests
{
    private static readonly Lazy<DemoAssetPaths> s_assets = new(() =>
    {
        var dir = Path.Combine(Path.GetTempPath(), "lsq-tests-demo-" + AppDomain.CurrentDomain.FriendlyName + "-" + Environment.ProcessId);
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
