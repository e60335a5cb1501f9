using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace LoraSqueeze.Core.Torch;

/// <summary>
/// Moves a large CPU tensor's memory onto 2 MiB transparent huge pages: <c>madvise(MADV_HUGEPAGE)</c> marks its
/// aligned interior, <c>madvise(MADV_COLLAPSE)</c> (Linux 6.1+, independent of the sysfs THP mode except "never")
/// copies the already-written 4 KiB pages into huge ones in place, contents unchanged. A decode step streams every
/// weight once; on 4 KiB pages that is a TLB miss per 4 KiB of each stream and the hardware prefetchers restart at
/// every page. The same one-row float32 GEMM over 8 × 46 MB read 1.04–1.12× faster from collapsed pages (paired
/// passes, 2026-12-04, AMD EPYC, THP "madvise"; docs/performance.md). libtorch allocates with
/// <c>posix_memalign</c> and offers no huge-page allocator, so this is done after the weights are written.
/// Hand-written: a two-call P/Invoke no library here wraps.
/// </summary>
public static class HugePages
{
    private const int MadvHugePage = 14, MadvCollapse = 25;   // <linux/mman.h>
    private const long PageBytes = 2L << 20;

    /// <summary>Smallest tensor worth its pages: an h1024 int8 q_proj is 1 MiB (and shares its one or two huge pages with its neighbours).</summary>
    private const long MinBytes = PageBytes / 4;

    [DllImport("libc", SetLastError = true)]
    private static extern int madvise(nint address, nuint length, int advice);

    /// <summary>
    /// Collapses the huge pages that hold <paramref name="tensor"/>'s bytes; returns the tensor's bytes now on huge
    /// pages (0 off Linux, off the CPU, under 512 KiB, or when the kernel refuses: THP "never", no free huge pages).
    /// The whole 2 MiB pages it touches are tried first — a 4 MiB projection rarely starts on a 2 MiB boundary, and its
    /// aligned interior alone is half of it; the neighbours' bytes that share those pages are collapsed with it,
    /// unchanged, as khugepaged would — and where that range leaves the tensor's mapping, its aligned interior. Never
    /// changes any value.
    /// </summary>
    public static unsafe long Collapse(Tensor tensor)
    {
        if (!OperatingSystem.IsLinux() || tensor.device_type != TorchSharp.DeviceType.CPU || !tensor.is_contiguous()) return 0;
        long bytes = tensor.numel() * tensor.ElementSize;
        if (bytes < MinBytes) return 0;
        long first = (long)TensorAddress.Of(tensor), last = first + bytes;
        long outerStart = first & ~(PageBytes - 1), outerEnd = (last + PageBytes - 1) & ~(PageBytes - 1);
        if (Advise(outerStart, outerEnd)) return bytes;
        long start = (first + PageBytes - 1) & ~(PageBytes - 1), end = last & ~(PageBytes - 1);
        return end > start && Advise(start, end) ? end - start : 0;
    }

    /// <summary>[start, end) marked for huge pages and collapsed; false where the kernel refused either (EINVAL without THP, ENOMEM past a mapping).</summary>
    private static bool Advise(long start, long end) =>
        madvise((nint)start, (nuint)(end - start), MadvHugePage) == 0 && madvise((nint)start, (nuint)(end - start), MadvCollapse) == 0;
}
