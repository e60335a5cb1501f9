using System.Text;
using LoraSqueeze.Testing;

namespace LoraSqueeze.Cli.Tests;

/// <summary>
/// The build's native fix (build/TorchNative.targets): the output copy of libLibTorchSharp.so carries a weak
/// GLIBCXX_3.4.32 need when the host lacks that version, the NuGet cache copy is untouched, and the task is idempotent.
/// </summary>
public class TorchNativePatchTests
{
    private const string Version = "GLIBCXX_3.4.32";

    private static bool HostHasVersion()
    {
        foreach (var c in new[] { "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6" })
        {
            if (File.Exists(c)) return File.ReadAllBytes(c).AsSpan().IndexOf(Encoding.ASCII.GetBytes(Version + "\0")) >= 0;
        }
        return true;
    }

    private static string OutputCopy => Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    private static string CacheCopy
    {
        get
        {
            var root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            return Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        }
    }

    [Fact]
    public void OutputCopyIsPatchedOnlyWhenHostLacksTheVersion()
    {
        if (!OperatingSystem.IsLinux()) return;
        var flags = ElfVersionNeeds.FlagsOf(File.ReadAllBytes(OutputCopy), Version);
        Assert.NotNull(flags);
        Assert.Equal(!HostHasVersion(), (flags.Value & ElfVersionNeeds.VerFlgWeak) != 0);
    }

    [Fact]
    public void NuGetCacheCopyIsNeverModified()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(CacheCopy)) return;
        var flags = ElfVersionNeeds.FlagsOf(File.ReadAllBytes(CacheCopy), Version);
        Assert.NotNull(flags);
        Assert.Equal(0, flags.Value & ElfVersionNeeds.VerFlgWeak);
    }

    [Fact]
    public void PatchTaskIsIdempotentAndOnlyTouchesTheOutputFolder()
    {
        if (!OperatingSystem.IsLinux() || HostHasVersion() || !File.Exists(CacheCopy)) return;
        var repo = RepoRoot();
        var work = Directory.CreateTempSubdirectory("patch-").FullName;
        try
        {
            var native = Path.Combine(work, "out", "runtimes", "linux-x64", "native");
            Directory.CreateDirectory(native);
            var target = Path.Combine(native, "libLibTorchSharp.so");
            File.Copy(CacheCopy, target);
            var proj = Path.Combine(work, "patch.proj");
            File.WriteAllText(proj, $"""
                <Project>
                  <Import Project="{Path.Combine(repo, "build", "TorchNative.targets")}" />
                  <Target Name="PatchIt"><PatchGlibcxxVersionNeed Directory="{Path.Combine(work, "out")}" VersionName="{Version}" /></Target>
                </Project>
                """);
            RunMsbuild(proj);
            var once = File.ReadAllBytes(target);
            Assert.NotEqual(0, ElfVersionNeeds.FlagsOf(once, Version)!.Value & ElfVersionNeeds.VerFlgWeak);
            // Only the two flag bytes differ from the original.
            var original = File.ReadAllBytes(CacheCopy);
            Assert.Equal(original.Length, once.Length);
            Assert.InRange(original.Zip(once).Count(p => p.First != p.Second), 1, 2);
            RunMsbuild(proj);
            Assert.Equal(once, File.ReadAllBytes(target));
        }
        finally
        {
            Directory.Delete(work, recursive: true);
        }
    }

    [Fact]
    public void PublishedAppIsPatchedAndLoadsTorch()
    {
        // `dotnet publish` must apply the same fix as `dotnet build` (AfterTargets="Publish").
        if (!OperatingSystem.IsLinux()) return;
        var repo = RepoRoot();
        var outDir = Directory.CreateTempSubdirectory("publish-").FullName;
        try
        {
            var project = Path.Combine(repo, "src", "LoraSqueeze.Cli", "LoraSqueeze.Cli.csproj");
            Run("dotnet", "publish", project, "-c", "Debug", "--no-build", "-o", outDir, "-nologo", "-v:q");
            var published = Path.Combine(outDir, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
            var flags = ElfVersionNeeds.FlagsOf(File.ReadAllBytes(published), Version);
            Assert.Equal(!HostHasVersion(), (flags!.Value & ElfVersionNeeds.VerFlgWeak) != 0);
            var version = Run("dotnet", Path.Combine(outDir, "lorasqueeze.dll"), "--version");
            Assert.Contains("backend cpu", version);
        }
        finally
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    private static string Run(string file, params string[] args)
    {
        var (code, output, stderr) = ChildProcess.Run(file, args, TimeSpan.FromMinutes(10));
        Assert.True(code == 0, $"{file} {string.Join(' ', args)} failed: {output} {stderr}");
        return output;
    }

    private static void RunMsbuild(string proj) => Run("dotnet", "msbuild", proj, "-t:PatchIt", "-nologo", "-v:m");

    internal static string RepoRoot() => RepositoryFolder.Root;
}

/// <summary>Reads vna_flags of a named version need (ELF64 LE, .gnu.version_r), independently of the build task.</summary>
internal static class ElfVersionNeeds
{
    public const int VerFlgWeak = 2;

    public static int? FlagsOf(byte[] elf, string versionName)
    {
        long shoff = BitConverter.ToInt64(elf, 0x28);
        int shentsize = BitConverter.ToUInt16(elf, 0x3A), shnum = BitConverter.ToUInt16(elf, 0x3C);
        for (int i = 0; i < shnum; i++)
        {
            int sh = (int)(shoff + (long)i * shentsize);
            if (BitConverter.ToUInt32(elf, sh + 4) != 0x6ffffffe) continue;
            int off = (int)BitConverter.ToInt64(elf, sh + 0x18);
            int strSh = (int)(shoff + BitConverter.ToUInt32(elf, sh + 0x28) * (long)shentsize);
            int str = (int)BitConverter.ToInt64(elf, strSh + 0x18);
            int count = (int)BitConverter.ToUInt32(elf, sh + 0x2C);
            for (int v = 0, vn = off; v < count; v++)
            {
                int cnt = BitConverter.ToUInt16(elf, vn + 2);
                for (int a = 0, va = vn + (int)BitConverter.ToUInt32(elf, vn + 8); a < cnt; a++)
                {
                    int name = str + (int)BitConverter.ToUInt32(elf, va + 8);
                    int end = Array.IndexOf(elf, (byte)0, name);
                    if (Encoding.ASCII.GetString(elf, name, end - name) == versionName) return BitConverter.ToUInt16(elf, va + 4);
                    va += (int)BitConverter.ToUInt32(elf, va + 12);
                }
                vn += (int)BitConverter.ToUInt32(elf, vn + 12);
            }
        }
        return null;
    }
}
