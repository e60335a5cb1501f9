namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// A request's hold on an adapter: while any lease is open the adapter keeps its device slot and its host factors.
/// Released exactly once, by whoever ends the request (the engine, or the front end when the queue refused it).
/// </summary>
public sealed class AdapterLease : IDisposable
{
    private readonly AdapterManager _manager;
    private int _released;

    internal AdapterLease(AdapterRecord record, AdapterManager manager)
    {
        Record = record;
        _manager = manager;
    }

    public string AdapterId => Record.Id;

    internal AdapterRecord Record { get; }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _released, 1) == 0) _manager.Release(Record);
    }
}
