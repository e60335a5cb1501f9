using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Testing;
using TorchSharp;
using static LoraSqueeze.Testing.AdapterFixture;

namespace LoraSqueeze.Core.Tests.Squeeze;

/// <summary>Squeezing modules on several threads gives the same adapter, progress and errors as in order.</summary>
public sealed class ModuleParallelTests : IDisposable
{
    private readonly AdapterFixture _fx = new();

    private string Adapter()
    {
        var tensors = new List<KeyValuePair<string, torch.Tensor>>();
        for (int l = 0; l < 6; l++)
        {
            tensors.Add(Key(Peft($"model.layers.{l}.q_proj", "lora_A.weight"), _fx.Randn(8, 24)));
            tensors.Add(Key(Peft($"model.layers.{l}.q_proj", "lora_B.weight"), _fx.Randn(20, 8)));
        }
        return _fx.WriteAdapter("par", new JsonObject { ["peft_type"] = "LORA", ["r"] = 8, ["lora_alpha"] = 8, ["target_modules"] = new JsonArray("q_proj") }, tensors);
    }

    [Fact]
    public void ParallelSqueezeEqualsSequentialAndReportsEveryModuleOnce()
    {
        using var adapter = AdapterReader.Read(Adapter());
        var (seq, seqReport) = AdapterSqueezer.Squeeze(adapter, 3, new SqueezeOptions());
        var seen = new ConcurrentBag<(string Path, int Done)>();
        var (par, parReport) = AdapterSqueezer.Squeeze(adapter, 3, new SqueezeOptions { Parallelism = 4, OnModule = (p, i, _) => seen.Add((p, i)) });
        using (seq)
        using (par)
        {
            Assert.Equal(seq.Modules.Select(m => m.ModulePath), par.Modules.Select(m => m.ModulePath));
            for (int i = 0; i < seq.Modules.Count; i++)
            {
                Assert.True(Same(seq.Modules[i].A, par.Modules[i].A));
                Assert.True(Same(seq.Modules[i].B, par.Modules[i].B));
            }
            Assert.Equal(seqReport.Modules.Select(m => m.RetainedEnergy), parReport.Modules.Select(m => m.RetainedEnergy));
            Assert.Equal(Enumerable.Range(1, 6), seen.Select(s => s.Done).Order());
            Assert.Equal(adapter.Modules.Select(m => m.ModulePath).Order(), seen.Select(s => s.Path).Order());
        }
    }

    [Fact]
    public void AModuleErrorSurfacesUnwrapped()
    {
        var ex = Assert.Throws<InvalidOperationException>(() =>
            ModuleParallel.For(8, 3, i => { if (i == 5) throw new InvalidOperationException("module 5 failed"); }));
        Assert.Equal("module 5 failed", ex.Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => ModuleParallel.For(1, 0, _ => { }));
    }

    public void Dispose() => _fx.Dispose();
}
