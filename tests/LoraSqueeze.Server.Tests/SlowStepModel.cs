using System.Collections.Concurrent;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Server.Engine;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// The real model with a pause before every step, so a generation reliably outlasts a short deadline however fast the
/// machine is, and a record of what the engine did with it: tokens per request, requests cancelled in the model, and
/// the batch size after each call (published for the test thread; the model itself is engine-thread only).
/// </summary>
internal sealed class SlowStepModel(IGenerationModel inner, TimeSpan delay) : IGenerationModel
{
    private readonly ConcurrentDictionary<long, int> _tokens = new();
    private readonly ConcurrentDictionary<long, byte> _cancelled = new();
    private int _active;

    public int SlotCount => inner.SlotCount;

    public long SlotBytes => inner.SlotBytes;

    /// <summary>Engine thread: the live count. Tests read <see cref="PublishedActiveCount"/>.</summary>
    public int ActiveCount => inner.ActiveCount;

    /// <summary>Sequences in the batch after the engine's last call into the model.</summary>
    public int PublishedActiveCount => Volatile.Read(ref _active);

    /// <summary>Request ids the engine admitted.</summary>
    public ConcurrentBag<long> Admitted { get; } = [];

    public bool WasCancelled(long requestId) => _cancelled.ContainsKey(requestId);

    public int TokensFor(long requestId) => _tokens.GetValueOrDefault(requestId);

    public bool TryAdmit(EngineSequence sequence)
    {
        bool admitted = inner.TryAdmit(sequence);
        if (admitted) Admitted.Add(sequence.RequestId);
        Publish();
        return admitted;
    }

    public void Cancel(long requestId)
    {
        inner.Cancel(requestId);
        _cancelled[requestId] = 0;
        Publish();
    }

    public IReadOnlyList<GeneratedToken> Step()
    {
        Thread.Sleep(delay);
        var tokens = inner.Step();
        foreach (var t in tokens)
        {
            if (t.TokenId >= 0) _tokens.AddOrUpdate(t.RequestId, 1, (_, n) => n + 1);
        }
        Publish();
        return tokens;
    }

    public void InstallAdapter(int slot, LoraWeights weights) => inner.InstallAdapter(slot, weights);

    public void ClearAdapter(int slot) => inner.ClearAdapter(slot);

    private void Publish() => Volatile.Write(ref _active, inner.ActiveCount);

    public void Dispose() => inner.Dispose();
}
