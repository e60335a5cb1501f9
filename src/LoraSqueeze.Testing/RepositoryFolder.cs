namespace LoraSqueeze.Testing;

/// <summary>The repository checkout the tests run from (the folder holding LoraSqueeze.sln above the test binaries).</summary>
public static class RepositoryFolder
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "LoraSqueeze.sln"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("LoraSqueeze.sln not found above " + AppContext.BaseDirectory);
    }
}
