using LoraSqueeze.Core.Adapters;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Lora;

/// <summary>
/// The device adapter slots of a model (vLLM's stacked LoRA buffers): every target projection (q, k, v, o, gate, up,
/// down in every layer) holds [slots, r, in] / [slots, out, r] factors allocated once. <see cref="Install(int, LoraWeights)"/>
/// and <see cref="Clear"/> write slots in place and touch nothing else. Engine-thread only.
/// <para>
/// An adapter squeezed to k·r (the serve-time energy floor, docs/squeeze.md) takes a <em>group</em> of k slots: its
/// rank-k·r factors split into k rank-r blocks, B·A = Σⱼ Bⱼ·Aⱼ, one per slot, so every slot stays rank r and the batched
/// kernel stays homogeneous. The group is named by its first slot, the <em>head</em>: a row of a step carries the head
/// (<see cref="Modules.SequenceChunk.AdapterSlot"/>) and <see cref="SlotsOf"/> lists the group. Most groups are one slot.
/// </para>
/// </summary>
public sealed class AdapterSlots
{
    private readonly Dictionary<string, LoraLinear> _targets;
    private readonly string?[] _names;
    private readonly int[]?[] _groups;   // per head slot: its group's slots in order; null for an empty or non-head slot
    private readonly int[] _headOf;      // per slot: the head of the group it belongs to, −1 when free

    internal AdapterSlots(IEnumerable<LoraLinear> targets, int count, int rank, LoraLayout layout)
    {
        _targets = targets.ToDictionary(t => t.Path, StringComparer.Ordinal);
        _names = new string?[count];
        _groups = new int[]?[count];
        _headOf = Enumerable.Repeat(-1, count).ToArray();
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

    /// <summary>Name of the adapter in a slot (any slot of its group), or null when empty.</summary>
    public string? NameOf(int slot) => _names[CheckSlot(slot)];

    /// <summary>True when the slot is the head of an installed adapter's group (what a step's row may name).</summary>
    public bool IsInstalled(int slot) => slot >= 0 && slot < Count && _groups[slot] is not null;

    /// <summary>The slots of the adapter whose head is <paramref name="head"/>, in order (one for most adapters).</summary>
    public IReadOnlyList<int> SlotsOf(int head) =>
        IsInstalled(head) ? _groups[head]! : throw new ArgumentException($"adapter slot {head} holds no adapter");

    /// <summary>Bytes one slot occupies across all target projections.</summary>
    public long BytesPerSlot => _targets.Values.Sum(t => t.SlotBytes);

    /// <summary>Copies an adapter of the slot rank into <paramref name="slot"/> (a group of one).</summary>
    public void Install(int slot, LoraWeights weights) => Install([slot], weights);

    /// <summary>
    /// Copies an adapter into the slots <paramref name="slots"/> (its group; the first is the head), replacing what
    /// was there: an adapter of rank k·r with k = slots.Count, block j of its factors into slot j. Every module is
    /// checked before anything is written: its path must be a target projection of this model, its rank must equal
    /// k·r (uniform layout) or, with one slot, not exceed the slot rank (padded layout), and its shapes must match.
    /// Projections the adapter does not target are zeroed. A group that shared any of these slots is dissolved.
    /// </summary>
    public void Install(IReadOnlyList<int> slots, LoraWeights weights)
    {
        if (slots.Count == 0) throw new ArgumentException($"adapter '{weights.Name}': no slots given");
        foreach (var slot in slots) CheckSlot(slot);
        if (slots.Distinct().Count() != slots.Count) throw new ArgumentException($"adapter '{weights.Name}': slots {string.Join(", ", slots)} repeat");
        if (slots.Count > 1 && Layout != LoraLayout.Uniform)
            throw new ArgumentException($"adapter '{weights.Name}': multi-slot adapters need the uniform layout");
        if (weights.Modules.Count == 0) throw new ArgumentException($"adapter '{weights.Name}' has no modules");
        int groupRank = Rank * slots.Count;
        foreach (var m in weights.Modules)
        {
            if (!_targets.TryGetValue(m.ModulePath, out var target))
                throw new ArgumentException($"adapter '{weights.Name}': module '{m.ModulePath}' is not a LoRA target of this model " +
                    "(targets are q/k/v/o_proj and gate/up/down_proj of model.layers.N)");
            bool rankOk = Layout == LoraLayout.Uniform ? m.Rank == groupRank : m.Rank >= 1 && m.Rank <= Rank;
            if (!rankOk)
                throw new ArgumentException($"adapter '{weights.Name}': module '{m.ModulePath}' has rank {m.Rank}, but the slots " +
                    (Layout == LoraLayout.Uniform
                        ? slots.Count == 1 ? $"hold rank {Rank} exactly (squeeze it to {Rank} first)" : $"{slots.Count} slots of rank {Rank} hold rank {groupRank} exactly"
                        : $"hold at most rank {Rank}"));
            if (m.A.dim() != 2 || m.B.dim() != 2 || m.InFeatures != target.InFeatures || m.OutFeatures != target.OutFeatures || m.B.shape[1] != m.Rank)
                throw new ArgumentException($"adapter '{weights.Name}': module '{m.ModulePath}' has A [{string.Join(", ", m.A.shape)}] and " +
                    $"B [{string.Join(", ", m.B.shape)}], expected A [r, {target.InFeatures}] and B [{target.OutFeatures}, r]");
        }
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        var byPath = weights.Modules.ToDictionary(m => m.ModulePath, StringComparer.Ordinal);
        foreach (var (path, target) in _targets)
        {
            if (!byPath.TryGetValue(path, out var m))
            {
                foreach (var slot in slots) target.ResetSlot(slot);
                continue;
            }
            if (slots.Count == 1)
            {
                target.SetSlot(slots[0], m.A, m.B);
                continue;
            }
            for (int j = 0; j < slots.Count; j++)
                target.SetSlot(slots[j], m.A.narrow(0, (long)j * Rank, Rank), m.B.narrow(1, (long)j * Rank, Rank)); // block j: A [r, in], B [out, r]
        }
        foreach (var slot in slots) Dissolve(slot);
        var group = slots.ToArray();
        foreach (var slot in group)
        {
            _names[slot] = weights.Name;
            _headOf[slot] = group[0];
        }
        _groups[group[0]] = group;
    }

    /// <summary>Zeroes a slot (eviction) and, when it heads a group, the group's other slots. Other slots are untouched.</summary>
    public void Clear(int slot)
    {
        CheckSlot(slot);
        using var mode = inference_mode();
        int[] cleared = _headOf[slot] == slot && _groups[slot] is { } group ? group : [slot];
        foreach (var s in cleared)
        {
            foreach (var target in _targets.Values) target.ResetSlot(s);
        }
        foreach (var s in cleared) Dissolve(s);
    }

    /// <summary>Forgets the group <paramref name="slot"/> belongs to: its slots keep their data but no row can name them.</summary>
    private void Dissolve(int slot)
    {
        int head = _headOf[slot];
        if (head < 0) return;
        foreach (var s in _groups[head] ?? [slot])
        {
            _names[s] = null;
            _headOf[s] = -1;
        }
        _groups[head] = null;
    }

    private int CheckSlot(int slot)
    {
        if (Count == 0) throw new InvalidOperationException("this model was loaded without adapter slots (ModelLoadOptions.AdapterSlots = 0)");
        if (slot < 0 || slot >= Count) throw new ArgumentOutOfRangeException(nameof(slot), slot, $"slot must be in 0..{Count - 1}");
        return slot;
    }
}
