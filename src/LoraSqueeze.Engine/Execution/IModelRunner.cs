using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;

namespace LoraSqueeze.Engine.Execution;

/// <summary>
/// Executes scheduled steps through the model (vLLM's model runner): owns the model's tensors, the KV cache, the
/// device adapter slots and each running sequence's sampler. Every member is called on one thread only (the engine
/// thread), which owns all model tensors.
/// </summary>
public interface IModelRunner : IDisposable
{
    /// <summary>Device adapter slots.</summary>
    int SlotCount { get; }

    /// <summary>Bytes of one device slot (adapter factors at the slot rank).</summary>
    long SlotBytes { get; }

    /// <summary>Sequences with sampling state (admitted, not yet released).</summary>
    int ActiveCount { get; }

    /// <summary>A sequence joins the batch: its sampler starts (seeded, with its prompt for the repetition penalty).</summary>
    void Admit(SequenceState sequence);

    /// <summary>A sequence left the batch (finished or cancelled): its sampling state goes; its row is free.</summary>
    void Release(long requestId, FinishReason reason);

    /// <summary>
    /// Runs the step's prefill chunks, then its decodes, writing their K/V into the cache rows, and samples one token
    /// for each chunk with <see cref="ScheduledChunk.Samples"/>, in that order (prefill, then decode).
    /// </summary>
    IReadOnlyList<SampledToken> Execute(ScheduledStep step);

    /// <summary>
    /// Before the first request: runs the shapes of step serving runs (a prefill, decode steps over every batch row and
    /// over one) for <paramref name="decodeSteps"/> steps each on rows no sequence holds, and leaves no state behind.
    /// </summary>
    void WarmUp(int decodeSteps);

    /// <summary>Copies an adapter's factors into its device slots (one, or k for a rank-k·r adapter; the first is the head).</summary>
    void InstallAdapter(IReadOnlyList<int> slots, LoraWeights weights);

    /// <summary>Zeroes a device slot, and the rest of its group when it is a multi-slot adapter's head.</summary>
    void ClearAdapter(int slot);
}
