using LoraSqueeze.Core.Adapters;

namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// Reads an adapter directory and squeezes it to a rank. Called on a loader task, never on the engine thread, so
/// the expensive part of a cold start does not stall decoding; only the slot copy happens on the engine thread.
/// </summary>
public interface IAdapterLoader
{
    /// <summary>Throws <see cref="AdapterLoadException"/> naming the file or tensor when the adapter is broken.</summary>
    (LoraWeights Weights, AdapterLoadInfo Info) Load(string adapterId, string directory, int targetRank);
}
