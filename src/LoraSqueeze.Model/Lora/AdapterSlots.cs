using LoraSqueeze.Core.Adapters;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Lora;

/// <summary>
/// The device adapter slots of a model (vLLM's stacked LoRA buffers): every target projection (q, k, v, o, gate, up,
/// down in every layer) holds [slots, r, in] / [slots, out, r] factors allocated once. <see cref="Install"/> and
/// <see cref="Clear"/> write one slot in place and touch nothing else. Engine-thread only.
/// </summary>
public sealed class AdapterSlots
{
    private readonly Dictionary<string, LoraLinear> _targets;
    private readonly string?[] _names;

    internal AdapterSlots(IEnumerable<LoraLinear> targets, int count, int rank, LoraLayout layout)
    {
        _targets = targets.ToDictionary(t => t.Path, StringComparer.Ordinal);
        _names = new string?[count];
        Rank = rank;
        Layout = layout;
    }

    /// <summary>Number of slots.</summary>
    public int Count => _names.Length;

    /// <summary>Rank of every slot: the uniform r, or the padded maximum.</summary>
    public int Rank { get; }

    public LoraLayout Layout { get; }

    /// <summary>Module paths that can carry an adapter.</summary>
    public IReadOnlyCollection<string> TargetModules => _targets.Keys;

    /// <summary>Name of the adapter in a slot, or null when empty.</summary>
    public string? NameOf(int slot) => _names[CheckSlot(slot)];

    /// <summary>True when the slot holds an adapter.</summary>
    public bool IsInstalled(int slot) => slot >= 0 && slot < Count && _names[slot] is not null;

    /// <summary>Bytes one slot occupies across all target projections.</summary>
    public long BytesPerSlot => _targets.Values.Sum(t => t.SlotBytes);

    /// <summary>
    /// Copies an adapter into <paramref name="slot"/>, replacing what was there. Every module is checked before anything
    /// is written: its path must be a target projection of this model, its rank must equal the slot rank (uniform layout)
    /// or not exceed it (padded layout), and its shapes must match. Projections the adapter does not target are zeroed.
    /// </summary>
    public void Install(int slot, LoraWeights weights)
    {
        CheckSlot(slot);
        if (weights.Modules.Count == 0) throw new ArgumentException($"adapter '{weights.Name}' has no modules");
        foreach (var m in weights.Modules)
        {
            if (!_targets.TryGetValue(m.ModulePath, out var target))
                throw new ArgumentException($"adapter '{weights.Name}': module '{m.ModulePath}' is not a LoRA target of this model " +
                    "(targets are q/k/v/o_proj and gate/up/down_proj of model.layers.N)");
            bool rankOk = Layout == LoraLayout.Uniform ? m.Rank == Rank : m.Rank >= 1 && m.Rank <= Rank;
            if (!rankOk)
                throw new ArgumentException($"adapter '{weights.Name}': module '{m.ModulePath}' has rank {m.Rank}, but the slots " +
                    (Layout == LoraLayout.Uniform ? $"hold rank {Rank} exactly (squeeze it to {Rank} first)" : $"hold at most rank {Rank}"));
            if (m.A.dim() != 2 || m.B.dim() != 2 || m.InFeatures != target.InFeatures || m.OutFeatures != target.OutFeatures || m.B.shape[1] != m.Rank)
                throw new ArgumentException($"adapter '{weights.Name}': module '{m.ModulePath}' has A [{string.Join(", ", m.A.shape)}] and " +
                    $"B [{string.Join(", ", m.B.shape)}], expected A [r, {target.InFeatures}] and B [{target.OutFeatures}, r]");
        }
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        var byPath = weights.Modules.ToDictionary(m => m.ModulePath, StringComparer.Ordinal);
        foreach (var (path, target) in _targets)
        {
            if (byPath.TryGetValue(path, out var m)) target.SetSlot(slot, m.A, m.B);
            else target.ResetSlot(slot);
        }
        _names[slot] = weights.Name;
    }

    /// <summary>Zeroes one slot (eviction). Other slots are untouched.</summary>
    public void Clear(int slot)
    {
        CheckSlot(slot);
        using var mode = inference_mode();
        foreach (var target in _targets.Values) target.ResetSlot(slot);
        _names[slot] = null;
    }

    private int CheckSlot(int slot)
    {
        if (Count == 0) throw new InvalidOperationException("this model was loaded without adapter slots (ModelLoadOptions.AdapterSlots = 0)");
        if (slot < 0 || slot >= Count) throw new ArgumentOutOfRangeException(nameof(slot), slot, $"slot must be in 0..{Count - 1}");
        return slot;
    }
}
