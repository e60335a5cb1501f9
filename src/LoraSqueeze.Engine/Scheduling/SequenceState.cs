using LoraSqueeze.Engine.Requests;

namespace LoraSqueeze.Engine.Scheduling;

/// <summary>
/// A request admitted to the running batch: its KV-cache row, its adapter slot (−1 = base model), how much of the
/// prompt is in the cache and what it generated. Plain values only; owned by the <see cref="Scheduler"/>.
/// </summary>
public sealed class SequenceState(GenerationRequest request, int row, int slot)
{
    public GenerationRequest Request { get; } = request;
    public long Id => Request.Id;
    public int Row { get; } = row;
    public int Slot { get; } = slot;

    /// <summary>Prompt tokens already written to the cache.</summary>
    public int Prefilled { get; internal set; }

    public List<int> Generated { get; } = [];

    public bool IsPrefilled => Prefilled == Request.PromptTokens.Length;

    /// <summary>Prompt plus generated tokens.</summary>
    public int Length => Request.PromptTokens.Length + Generated.Count;

    public int LastToken => Generated[^1];
}
