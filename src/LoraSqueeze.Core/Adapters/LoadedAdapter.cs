namespace LoraSqueeze.Core.Adapters;

/// <summary>An adapter read from disk: its config, its kind and one ΔW per target module. Owns the deltas.</summary>
public sealed class LoadedAdapter(string name, string source, AdapterConfig config, AdapterKind kind, IReadOnlyList<IModuleDelta> modules) : IDisposable
{
    public string Name { get; } = name;

    /// <summary>Folder or file it came from.</summary>
    public string Source { get; } = source;

    public AdapterConfig Config { get; } = config;

    public AdapterKind Kind { get; } = kind;

    /// <summary>Modules sorted by path.</summary>
    public IReadOnlyList<IModuleDelta> Modules { get; } = modules;

    public void Dispose()
    {
        foreach (var m in Modules) m.Dispose();
    }
}
