using LoraSqueeze.Core.Adapters;

namespace LoraSqueeze.Server.Engine;

/// <summary>
/// What the engine thread needs from the model runtime: a continuous batch it can add sequences to between steps, and
/// device adapter slots. Every member is called on the engine thread only, which owns all model tensors.
/// </summary>
public interface IGenerationModel : IDisposable
{
    /// <summary>Device adapter slots.</summary>
    int SlotCount { get; }

    /// <summary>Bytes of one device slot (adapter factors at the slot rank).</summary>
    long SlotBytes { get; }

    /// <summary>Sequences in the running batch.</summary>
    int ActiveCount { get; }

    /// <summary>Adds a sequence to the running batch; false when the batch or per-step token limits are reached.</summary>
    bool TryAdmit(EngineSequence sequence);

    /// <summary>Drops a sequence at once and frees its cache.</summary>
    void Cancel(long requestId);

    /// <summary>One decode step over the running batch (prefilling newly admitted sequences); one token per sequence.</summary>
    IReadOnlyList<GeneratedToken> Step();

    /// <summary>Copies an adapter's factors into a device slot.</summary>
    void InstallAdapter(int slot, LoraWeights weights);

    /// <summary>Zeroes a device slot.</summary>
    void ClearAdapter(int slot);
}

/// <summary>A sequence handed to the model: prompt, device slot (-1 = base model) and sampling.</summary>
public sealed record EngineSequence(long RequestId, int[] PromptTokens, int Slot, SamplingSettings Sampling);
