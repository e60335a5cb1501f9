// MSBuild inline task (RoslynCodeTaskFactory): marks one GLIBCXX version need weak in copies of
// libLibTorchSharp.so when the host libstdc++ does not provide that version.
// ELF layout references: System V gABI (section headers) and the LSB "Symbol Versioning" chapter
// (Elf64_Verneed / Elf64_Vernaux in .gnu.version_r, SHT_GNU_verneed = 0x6ffffffe, VER_FLG_WEAK = 0x2).
using System;
using System.IO;
using System.Text;
using Microsoft.Build.Framework;
using Microsoft.Build.Utilities;

public class PatchGlibcxxVersionNeed : Task
{
    [Required] public string Directory { get; set; } = "";
    [Required] public string VersionName { get; set; } = "";

    private const uint ShtGnuVerneed = 0x6ffffffe;
    private const ushort VerFlgWeak = 0x2;

    private static readonly string[] LibStdCxxCandidates =
    {
        "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/lib/x86_64-linux-gnu/libstdc++.so.6",
        "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
        "/usr/lib64/libstdc++.so.6",
        "/usr/lib/libstdc++.so.6",
    };

    public override bool Execute()
    {
        if (!System.IO.Directory.Exists(Directory)) return true;
        var targets = System.IO.Directory.GetFiles(Directory, "libLibTorchSharp.so", SearchOption.AllDirectories);
        if (targets.Length == 0) return true;

        string hostLib = null;
        foreach (var c in LibStdCxxCandidates) { if (File.Exists(c)) { hostLib = c; break; } }
        if (hostLib == null)
        {
            Log.LogMessage(MessageImportance.Normal, "PatchGlibcxxVersionNeed: no host libstdc++.so.6 found; nothing patched.");
            return true;
        }
        if (ContainsAscii(File.ReadAllBytes(hostLib), VersionName + "\0"))
        {
            Log.LogMessage(MessageImportance.Low, $"PatchGlibcxxVersionNeed: {hostLib} provides {VersionName}; no patch needed.");
            return true;
        }

        foreach (var path in targets)
        {
            try
            {
                var bytes = File.ReadAllBytes(path);
                var result = MarkWeak(bytes, VersionName);
                if (result == PatchResult.Patched)
                {
                    // Write a new file and move it over the old one: a new inode, so a hard link into
                    // the NuGet cache is never written through.
                    var tmp = path + ".patch-tmp";
                    File.WriteAllBytes(tmp, bytes);
                    File.Delete(path);
                    File.Move(tmp, path);
                    Log.LogMessage(MessageImportance.High, $"PatchGlibcxxVersionNeed: marked {VersionName} weak in {path} (host libstdc++ lacks it).");
                }
                else if (result == PatchResult.NotFound)
                {
                    Log.LogMessage(MessageImportance.Low, $"PatchGlibcxxVersionNeed: {path} does not need {VersionName}.");
                }
            }
            catch (Exception ex)
            {
                Log.LogError($"PatchGlibcxxVersionNeed: cannot patch {path}: {ex.Message}");
                return false;
            }
        }
        return true;
    }

    private enum PatchResult { Patched, AlreadyWeak, NotFound }

    private static bool ContainsAscii(byte[] haystack, string needle)
    {
        // Compiled against netstandard by RoslynCodeTaskFactory: no spans here.
        var n = Encoding.ASCII.GetBytes(needle);
        for (int i = 0; i + n.Length <= haystack.Length; i++)
        {
            int j = 0;
            while (j < n.Length && haystack[i + j] == n[j]) j++;
            if (j == n.Length) return true;
        }
        return false;
    }

    private static PatchResult MarkWeak(byte[] elf, string versionName)
    {
        if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
            throw new InvalidDataException("not an ELF file");
        if (elf[4] != 2 || elf[5] != 1)
            throw new InvalidDataException("only ELF64 little-endian is supported");

        ulong shoff = BitConverter.ToUInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A);
        int shnum = BitConverter.ToUInt16(elf, 0x3C);
        if (shentsize < 64 || shoff + (ulong)(shentsize * shnum) > (ulong)elf.Length)
            throw new InvalidDataException("section header table out of range");

        var result = PatchResult.NotFound;
        for (int i = 0; i < shnum; i++)
        {
            long sh = (long)shoff + (long)i * shentsize;
            uint type = BitConverter.ToUInt32(elf, (int)sh + 4);
            if (type != ShtGnuVerneed) continue;
            long secOff = (long)BitConverter.ToUInt64(elf, (int)sh + 0x18);
            long secSize = (long)BitConverter.ToUInt64(elf, (int)sh + 0x20);
            int link = (int)BitConverter.ToUInt32(elf, (int)sh + 0x28);
            int count = (int)BitConverter.ToUInt32(elf, (int)sh + 0x2C);
            long strSh = (long)shoff + (long)link * shentsize;
            long strOff = (long)BitConverter.ToUInt64(elf, (int)strSh + 0x18);
            long strSize = (long)BitConverter.ToUInt64(elf, (int)strSh + 0x20);
            if (secOff + secSize > elf.Length || strOff + strSize > elf.Length)
                throw new InvalidDataException("version section out of range");

            long vn = secOff;
            for (int v = 0; v < count; v++)
            {
                // Elf64_Verneed { u16 vn_version; u16 vn_cnt; u32 vn_file; u32 vn_aux; u32 vn_next; }
                int cnt = BitConverter.ToUInt16(elf, (int)vn + 2);
                uint aux = BitConverter.ToUInt32(elf, (int)vn + 8);
                uint next = BitConverter.ToUInt32(elf, (int)vn + 12);
                long va = vn + aux;
                for (int a = 0; a < cnt; a++)
                {
                    // Elf64_Vernaux { u32 vna_hash; u16 vna_flags; u16 vna_other; u32 vna_name; u32 vna_next; }
                    ushort flags = BitConverter.ToUInt16(elf, (int)va + 4);
                    uint name = BitConverter.ToUInt32(elf, (int)va + 8);
                    uint vnext = BitConverter.ToUInt32(elf, (int)va + 12);
                    if (ReadCString(elf, strOff + name, strOff + strSize) == versionName)
                    {
                        if ((flags & VerFlgWeak) != 0) return PatchResult.AlreadyWeak;
                        var nf = BitConverter.GetBytes((ushort)(flags | VerFlgWeak));
                        elf[va + 4] = nf[0];
                        elf[va + 5] = nf[1];
                        result = PatchResult.Patched;
                    }
                    if (vnext == 0) break;
                    va += vnext;
                }
                if (next == 0) break;
                vn += next;
            }
        }
        return result;
    }

    private static string ReadCString(byte[] b, long start, long limit)
    {
        long end = start;
        while (end < limit && b[end] != 0) end++;
        return Encoding.ASCII.GetString(b, (int)start, (int)(end - start));
    }
}
