namespace LoraSqueeze.Server.Adapters;

/// <summary>
/// A request's hold on an adapter: while any lease is open the adapter stays pinned in its tier. Released exactly
/// once, by whoever ends the request (the engine, or the service when the queue refused it).
/// </summary>
public sealed class AdapterLease(AdapterEntry entry, AdapterStore store) : IDisposable
{
    private int _released;

    public AdapterEntry Entry { get; } = entry;

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) store.Release(Entry);
    }
}
