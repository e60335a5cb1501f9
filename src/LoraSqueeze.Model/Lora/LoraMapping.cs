using static TorchSharp.torch;

namespace LoraSqueeze.Model.Lora;

/// <summary>
/// Which adapter slots each row of a packed step uses, built once per step and shared by every layer (vLLM's
/// <c>LoRAMapping</c> / punica wrapper metadata). The batch is ordered so that rows of the same adapter are contiguous:
/// <see cref="Segments"/> lists (head slot, first row, row count) for rows with an adapter; base-only rows have no
/// segment. An adapter holds a group of one or more rank-r slots (<see cref="AdapterSlots"/>): its rows add the terms of
/// every slot of the group (row → slots list; most rows have one), so the computation stays the same rank-r product.
/// </summary>
public sealed class LoraMapping
{
    private LoraMapping(IReadOnlyList<(int Slot, int Start, int Count)> segments, IReadOnlyList<int[]> groups, int rows, int firstLoraRow, Device device)
    {
        Segments = segments;
        SegmentSlots = groups;
        Rows = rows;
        FirstLoraRow = firstLoraRow;
        // Split once per step (every projection reuses it): short segments go row by row through the CPU kernel,
        // long ones (prefill chunks) stay a per-adapter GEMM. Short rows keep their slots in CSR form: row i's slots are
        // ShortSlots[ShortSlotStart[i] .. ShortSlotStart[i + 1]).
        var shortRows = new List<int>();
        var shortStart = new List<int> { 0 };
        var shortSlots = new List<int>();
        var longSegments = new List<(int[], int, int)>();
        var pairRows = new List<long>();
        var pairSlots = new List<long>();
        for (int g = 0; g < segments.Count; g++)
        {
            var (_, start, count) = segments[g];
            var slots = groups[g];
            for (int r = start; r < start + count; r++)
            {
                foreach (var slot in slots)
                {
                    pairRows.Add(r);
                    pairSlots.Add(slot);
                }
            }
            if (count > CpuLoraKernel.MaxSegmentRows)
            {
                longSegments.Add((slots, start, count));
                continue;
            }
            for (int r = start; r < start + count; r++)
            {
                shortRows.Add(r);
                shortSlots.AddRange(slots);
                shortStart.Add(shortSlots.Count);
            }
        }
        ShortRows = [.. shortRows];
        ShortSlotStart = [.. shortStart];
        ShortSlots = [.. shortSlots];
        LongSegments = longSegments;
        OneSlotPerRow = groups.All(g => g.Length == 1);
        if (pairRows.Count > 0)
        {
            PairRows = tensor(pairRows.ToArray(), device: device);
            PairSlots = tensor(pairSlots.ToArray(), device: device);
        }
    }

    /// <summary>Rows of segments of at most <see cref="CpuLoraKernel.MaxSegmentRows"/> rows (decode rows), for the CPU kernel.</summary>
    internal int[] ShortRows { get; }

    /// <summary>CSR offsets into <see cref="ShortSlots"/>, one more than <see cref="ShortRows"/>.</summary>
    internal int[] ShortSlotStart { get; }

    /// <summary>The slots of each of <see cref="ShortRows"/>, concatenated (<see cref="ShortSlotStart"/>).</summary>
    internal int[] ShortSlots { get; }

    /// <summary>Segments longer than <see cref="CpuLoraKernel.MaxSegmentRows"/> rows (prefill chunks), with their group's slots.</summary>
    internal IReadOnlyList<(int[] Slots, int Start, int Count)> LongSegments { get; }

    /// <summary>Contiguous runs of rows sharing an adapter, named by its head slot (≥ 0), in row order.</summary>
    public IReadOnlyList<(int Slot, int Start, int Count)> Segments { get; }

    /// <summary>The slot group of each of <see cref="Segments"/>.</summary>
    public IReadOnlyList<int[]> SegmentSlots { get; }

    /// <summary>Rows in the step.</summary>
    public int Rows { get; }

    /// <summary>
    /// One (row, slot) pair per slot of every LoRA row, as int64 tensors [P] (for the gathered kernel); null when no row
    /// has an adapter. With <see cref="OneSlotPerRow"/> the rows are exactly FirstLoraRow, FirstLoraRow + 1, … in order.
    /// </summary>
    public Tensor? PairRows { get; }

    /// <summary>The slot of each of <see cref="PairRows"/>.</summary>
    public Tensor? PairSlots { get; }

    /// <summary>True when every adapter in the step holds one slot.</summary>
    public bool OneSlotPerRow { get; }

    /// <summary>First row with an adapter; rows with an adapter are the contiguous tail [FirstLoraRow, Rows).</summary>
    public int FirstLoraRow { get; }

    /// <summary>True when no row uses an adapter.</summary>
    public bool IsEmpty => Segments.Count == 0;

    /// <summary>
    /// Builds the mapping from per-row head slots (−1 = base only) that are already grouped: every adapter's rows
    /// contiguous and base-only rows first. <paramref name="slotsOf"/> gives a head's slot group (null: every adapter
    /// holds the one slot it is named by). Throws when the rows are not grouped.
    /// </summary>
    public static LoraMapping FromGroupedRows(ReadOnlySpan<int> rowSlots, Device device, Func<int, IReadOnlyList<int>>? slotsOf = null)
    {
        var segments = new List<(int, int, int)>();
        var groups = new List<int[]>();
        int i = 0;
        while (i < rowSlots.Length && rowSlots[i] < 0) i++;
        int first = i;
        var seen = new HashSet<int>();
        while (i < rowSlots.Length)
        {
            int slot = rowSlots[i];
            if (slot < 0) throw new ArgumentException("base-only rows must come first in a LoRA mapping");
            if (!seen.Add(slot)) throw new ArgumentException($"rows of slot {slot} are not contiguous");
            int start = i;
            while (i < rowSlots.Length && rowSlots[i] == slot) i++;
            segments.Add((slot, start, i - start));
            groups.Add(slotsOf is null ? [slot] : [.. slotsOf(slot)]);
        }
        return new LoraMapping(segments, groups, rowSlots.Length, first, device);
    }
}
