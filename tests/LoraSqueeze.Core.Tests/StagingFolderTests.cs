using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Torch;
using TorchSharp;

namespace LoraSqueeze.Core.Tests;

/// <summary>Atomic folder output leaves nothing behind: a killed writer's staging folder is removed by the next write.</summary>
public sealed class StagingFolderTests
{
    [Fact]
    public void A_new_write_removes_stale_staging_folders_and_keeps_live_ones()
    {
        TorchRuntime.EnsureInitialized();
        var parent = Directory.CreateTempSubdirectory("lsq-staging-").FullName;
        try
        {
            var legacy = Directory.CreateDirectory(Path.Combine(parent, ".out.tmp-0123456789abcdef")).FullName;     // before PIDs
            var dead = Directory.CreateDirectory(Path.Combine(parent, ".out.tmp-2147480000-abc")).FullName;         // no such process
            var live = Directory.CreateDirectory(Path.Combine(parent, $".out.tmp-{Environment.ProcessId}-abc")).FullName;
            var other = Directory.CreateDirectory(Path.Combine(parent, ".other.tmp-0123")).FullName;                // another target's
            File.WriteAllText(Path.Combine(dead, "adapter_model.safetensors"), "half-written");

            using var weights = new LoraWeights("x", [new LoraModule("m.q_proj", torch.randn(2, 8), torch.randn(6, 2))]);
            PeftLoraWriter.Write(weights, Path.Combine(parent, "out"));

            Assert.False(Directory.Exists(legacy));
            Assert.False(Directory.Exists(dead));
            Assert.True(Directory.Exists(live));
            Assert.True(Directory.Exists(other));
            Assert.True(File.Exists(Path.Combine(parent, "out", "adapter_model.safetensors")));
            Assert.Equal(2, Directory.GetDirectories(parent, ".*").Length);      // only the live and the other target's
        }
        finally
        {
            Directory.Delete(parent, recursive: true);
        }
    }
}
