using static TorchSharp.torch;

namespace LoraSqueeze.Model.Lora;

/// <summary>
/// Which adapter slot each row of a packed step uses, built once per step and shared by every layer (vLLM's
/// <c>LoRAMapping</c> / punica wrapper metadata). The batch is ordered so that rows of the same slot are contiguous:
/// <see cref="Segments"/> lists (slot, first row, row count) for rows with an adapter; base-only rows have no segment.
/// </summary>
public sealed class LoraMapping
{
    private LoraMapping(IReadOnlyList<(int Slot, int Start, int Count)> segments, int rows, Tensor? rowSlots, int firstLoraRow)
    {
        Segments = segments;
        Rows = rows;
        RowSlots = rowSlots;
        FirstLoraRow = firstLoraRow;
        // Split once per step (every projection reuses it): short segments go row by row through the CPU kernel,
        // long ones (prefill chunks) stay a per-adapter GEMM.
        var shortRows = new List<int>();
        var shortSlots = new List<int>();
        var longSegments = new List<(int, int, int)>();
        foreach (var (slot, start, count) in segments)
        {
            if (count > CpuLoraKernel.MaxSegmentRows)
            {
                longSegments.Add((slot, start, count));
                continue;
            }
            for (int r = start; r < start + count; r++)
            {
                shortRows.Add(r);
                shortSlots.Add(slot);
            }
        }
        ShortRows = [.. shortRows];
        ShortRowSlots = [.. shortSlots];
        LongSegments = longSegments;
    }

    /// <summary>Rows of segments of at most <see cref="CpuLoraKernel.MaxSegmentRows"/> rows (decode rows), for the CPU kernel.</summary>
    internal int[] ShortRows { get; }

    /// <summary>The slot of each of <see cref="ShortRows"/>.</summary>
    internal int[] ShortRowSlots { get; }

    /// <summary>Segments longer than <see cref="CpuLoraKernel.MaxSegmentRows"/> rows (prefill chunks).</summary>
    internal IReadOnlyList<(int Slot, int Start, int Count)> LongSegments { get; }

    /// <summary>Contiguous runs of rows sharing an adapter slot (slot ≥ 0), in row order.</summary>
    public IReadOnlyList<(int Slot, int Start, int Count)> Segments { get; }

    /// <summary>Rows in the step.</summary>
    public int Rows { get; }

    /// <summary>Slot per LoRA row from <see cref="FirstLoraRow"/> on, as an int64 tensor (for the gathered kernel); null when no row has an adapter.</summary>
    public Tensor? RowSlots { get; }

    /// <summary>First row with an adapter; rows with an adapter are the contiguous tail [FirstLoraRow, Rows).</summary>
    public int FirstLoraRow { get; }

    /// <summary>True when no row uses an adapter.</summary>
    public bool IsEmpty => Segments.Count == 0;

    /// <summary>Builds the mapping from per-row slots (−1 = base only) that are already grouped: every slot's rows
    /// contiguous and base-only rows first. Throws when they are not.</summary>
    public static LoraMapping FromGroupedRows(ReadOnlySpan<int> rowSlots, Device device)
    {
        var segments = new List<(int, int, int)>();
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
        }
        Tensor? slotsTensor = null;
        if (first < rowSlots.Length)
        {
            var longs = new long[rowSlots.Length - first];
            for (int k = 0; k < longs.Length; k++) longs[k] = rowSlots[first + k];
            slotsTensor = tensor(longs, device: device);
        }
        return new LoraMapping(segments, rowSlots.Length, slotsTensor, first);
    }
}
