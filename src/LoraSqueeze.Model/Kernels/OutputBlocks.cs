namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// Splits the output rows of a group of projections over the kernel threads as one range of their concatenated rows
/// (so q, k and v, or gate and up, run in one parallel region instead of one each: fewer fork/joins, and the small k/v
/// projections share threads with q), each thread computing <c>block(context, output, from, to)</c> for the part of
/// each projection its range covers. Ranges are multiples of <c>align</c> rows (the kernels' pair and quad loops).
/// </summary>
internal static unsafe class OutputBlocks
{
    /// <summary>Fewest output rows a thread is given: below this a fork/join costs more than it saves.</summary>
    public const int MinRowsPerThread = 64;

    public static void Run(GemmOutput* outputs, int count, int threads, int align, delegate*<nint, GemmOutput*, int, int, void> block, nint context)
    {
        int total = 0;
        for (int i = 0; i < count; i++) total += outputs[i].OutFeatures;
        if (total == 0) return;
        int parts = KernelPool.Shared.Parts(threads, total / MinRowsPerThread);
        if (parts == 1)
        {
            Range(outputs, count, 0, total, block, context);
            return;
        }
        int per = ((total + parts - 1) / parts + align - 1) / align * align;
        nint po = (nint)outputs, pb = (nint)block;   // raw pointers cannot be captured by a lambda
        KernelPool.Shared.For(parts, part =>
        {
            int from = part * per, to = Math.Min(total, from + per);
            if (from < to) Range((GemmOutput*)po, count, from, to, (delegate*<nint, GemmOutput*, int, int, void>)pb, context);
        });
    }

    /// <summary>Rows [from, to) of the concatenation, cut at the projections' boundaries.</summary>
    private static void Range(GemmOutput* outputs, int count, int from, int to, delegate*<nint, GemmOutput*, int, int, void> block, nint context)
    {
        int start = 0;
        for (int i = 0; i < count && start < to; i++)
        {
            int n = outputs[i].OutFeatures;
            int lo = Math.Max(from, start), hi = Math.Min(to, start + n);
            if (lo < hi) block(context, outputs + i, lo - start, hi - start);
            start += n;
        }
    }
}
