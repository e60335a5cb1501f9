namespace LoraSqueeze.Engine.Adapters;

/// <summary>No adapter with this id is loaded or found under the adapter roots (answered with NOT_FOUND).</summary>
public sealed class AdapterNotFoundException(string adapterId)
    : Exception($"adapter {AdapterPathResolver.Quote(adapterId)} is not loaded and was not found under the adapter roots")
{
    public string AdapterId { get; } = adapterId;
}
