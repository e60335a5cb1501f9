using System.Globalization;
using LoraSqueeze.Core.Torch;
using static TorchSharp.torch;

namespace LoraSqueeze.Core.Tests;

/// <summary>
/// <see cref="HugePages.Collapse"/>: a written 12 MiB tensor moves onto huge pages (the kernel's own account in
/// /proc/self/smaps says so) with every value unchanged; a small tensor is left alone; where the machine's THP mode is
/// "never" it reports 0 and still changes nothing.
/// </summary>
public unsafe class HugePagesTests
{
    [Fact]
    public void A_large_tensor_moves_onto_huge_pages_with_its_values_unchanged()
    {
        TorchRuntime.EnsureInitialized();
        using var scope = NewDisposeScope();
        using var mode = inference_mode();
        long n = 3L << 20;                                              // 12 MiB of float32
        var t = arange(n, dtype: ScalarType.Float32).mul_(0.5f);
        var before = t.clone();
        long collapsed = HugePages.Collapse(t);
        Assert.True(t.equal(before).all().item<bool>(), "values changed");
        if (!OperatingSystem.IsLinux() || ThpMode() is null or "never")
        {
            Assert.Equal(0, collapsed);
            return;
        }
        Assert.True(collapsed >= n * sizeof(float) - (4L << 20), $"collapsed {collapsed} of {n * sizeof(float)} bytes");
        long huge = AnonHugeKiBOfMappingAt((long)TensorAddress.Of(t));
        Assert.True(huge * 1024 >= collapsed - (4L << 20), $"smaps: {huge} KiB of anonymous huge pages around the tensor");
    }

    [Fact]
    public void A_small_tensor_is_left_alone()
    {
        TorchRuntime.EnsureInitialized();
        using var scope = NewDisposeScope();
        var t = ones(1000);
        Assert.Equal(0, HugePages.Collapse(t));
        Assert.True(t.equal(ones(1000)).all().item<bool>());
    }

    /// <summary>The bracketed word of /sys/kernel/mm/transparent_hugepage/enabled ("always", "madvise", "never"), null without THP.</summary>
    private static string? ThpMode()
    {
        const string path = "/sys/kernel/mm/transparent_hugepage/enabled";
        if (!File.Exists(path)) return null;
        var text = File.ReadAllText(path);
        int a = text.IndexOf('['), b = text.IndexOf(']');
        return a >= 0 && b > a ? text[(a + 1)..b] : null;
    }

    /// <summary>AnonHugePages of the mapping (as /proc/self/smaps splits them) that contains <paramref name="address"/>.</summary>
    private static long AnonHugeKiBOfMappingAt(long address)
    {
        bool inside = false;
        foreach (var line in File.ReadLines("/proc/self/smaps"))
        {
            int dash = line.IndexOf('-');
            int space = line.IndexOf(' ');
            if (dash > 0 && space > dash && long.TryParse(line[..dash], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long lo)
                && long.TryParse(line[(dash + 1)..space], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long hi))
            {
                inside = address >= lo && address < hi;
                continue;
            }
            if (inside && line.StartsWith("AnonHugePages:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
        }
        return 0;
    }
}
