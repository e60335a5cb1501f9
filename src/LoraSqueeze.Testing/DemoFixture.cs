namespace LoraSqueeze.Testing;

/// <summary>The generated demo (<see cref="DemoAssets"/>) written once per test process, deleted at exit.</summary>
public static class DemoFixture
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
