using System.Diagnostics;
using System.Globalization;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// Atomic folder output: write into a hidden staging sibling <c>.NAME.tmp-PID-GUID</c>, then rename it into place, so
/// a failure leaves the target as it was. A process killed mid-write (kill -9, OOM) cannot clean up after itself, so
/// every new staging first removes the stale ones of the same target: those whose writer process is gone, or that
/// predate the PID in the name.
/// </summary>
public static class StagingFolder
{
    /// <summary>Creates a staging folder for <paramref name="target"/> (a full path), after removing stale ones.</summary>
    public static string Create(string target)
    {
        var parent = Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(target)) ?? ".";
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(target));
        Directory.CreateDirectory(parent);
        RemoveStale(parent, name);
        var staging = Path.Combine(parent, $".{name}.tmp-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        return staging;
    }

    /// <summary>Moves <paramref name="staging"/> into place as <paramref name="target"/>, replacing what was there.</summary>
    public static void Commit(string staging, string target)
    {
        if (Directory.Exists(target))
        {
            var old = staging + ".old";
            Directory.Move(target, old);
            Directory.Move(staging, target);
            Directory.Delete(old, recursive: true);
        }
        else
        {
            Directory.Move(staging, target);
        }
    }

    private static void RemoveStale(string parent, string name)
    {
        var prefix = $".{name}.tmp-";
        foreach (var dir in Directory.EnumerateDirectories(parent, prefix + "*"))
        {
            var rest = Path.GetFileName(dir)[prefix.Length..];
            int dash = rest.IndexOf('-', StringComparison.Ordinal);
            bool live = dash > 0 && int.TryParse(rest.AsSpan(0, dash), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && IsRunning(pid);
            if (live) continue;
            try
            {
                Directory.Delete(dir, recursive: true);
            }
            catch (IOException)
            {
                // Another cleaner got there first, or a file is busy: it will be removed next time.
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var p = Process.GetProcessById(pid);
            return !p.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }
}
