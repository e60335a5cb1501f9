using System.Runtime.InteropServices;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// Is a path (after links) a regular file? Adapter and model files must be: opening a FIFO blocks until a writer
/// appears, and a device (<c>/dev/zero</c>) never ends. .NET has no public file-type query on Unix (its attributes do
/// not mark FIFOs or devices), so this asks Linux's <c>statx</c>, whose <c>struct statx</c> has the same layout on every
/// architecture (<c>linux/stat.h</c>: <c>stx_mode</c> is the u16 at byte 28). Elsewhere it answers true and leaves the
/// check to the open.
/// </summary>
public static partial class RegularFile
{
    private const int AtFdCwd = -100;          // <fcntl.h>
    private const uint StatxType = 0x0001;     // STATX_TYPE
    private const int ModeOffset = 28;         // offsetof(struct statx, stx_mode)
    private const int FileTypeMask = 0xF000;   // S_IFMT
    private const int Regular = 0x8000;        // S_IFREG

    /// <summary>True for a regular file; false for a FIFO, socket, device or directory; true when it cannot tell.</summary>
    public static bool Is(string path)
    {
        if (!OperatingSystem.IsLinux()) return true;
        var buffer = new byte[256];            // sizeof(struct statx) is 256
        if (Statx(AtFdCwd, path, 0, StatxType, buffer) != 0) return true;   // let the open report what is wrong
        int mode = BitConverter.ToUInt16(buffer, ModeOffset);
        return (mode & FileTypeMask) == Regular;
    }

    /// <summary>Throws <see cref="AdapterFormatException"/> naming <paramref name="path"/> when it is not a regular file.</summary>
    public static void Require(string path, string what)
    {
        if (!Is(path)) throw new AdapterFormatException($"{path}: the {what} is not a regular file (a FIFO, socket or device is never read)");
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int dirfd, string path, int flags, uint mask, [Out] byte[] buffer);
}
