using System.Runtime.InteropServices;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// Drops a file's pages from the Linux page cache (<c>posix_fadvise(POSIX_FADV_DONTNEED)</c>, no root needed for clean
/// pages) so the benchmark can time a cold read, the way a server first meets an adapter, next to the hot read of a file
/// just written.
/// </summary>
internal static partial class PageCache
{
    private const int PosixFadvDontNeed = 4; // <fcntl.h> on Linux

    /// <summary>True when the advice was accepted (Linux only; the file is flushed first so its pages are clean).</summary>
    public static bool TryEvict(string path)
    {
        if (!OperatingSystem.IsLinux()) return false;
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        stream.Flush(flushToDisk: true);
        int fd = (int)stream.SafeFileHandle.DangerousGetHandle();
        return PosixFadvise(fd, 0, 0, PosixFadvDontNeed) == 0;
    }

    [LibraryImport("libc", EntryPoint = "posix_fadvise")]
    private static partial int PosixFadvise(int fd, long offset, long length, int advice);
}
