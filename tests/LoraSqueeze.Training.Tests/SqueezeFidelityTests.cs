using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Testing;
using LoraSqueeze.Training.Squeeze;
using TorchSharp;

namespace LoraSqueeze.Training.Tests;

/// <summary>
/// The fidelity measure against what must hold: at the adapter's own rank the squeeze is exact (KL 0, same perplexity,
/// full agreement), a lower rank costs something, and the base model differs from the adapter at all.
/// </summary>
public sealed class SqueezeFidelityTests
{
    [Fact]
    public void The_squeeze_at_the_source_rank_is_exact_and_lower_ranks_cost_kl()
    {
        TorchRuntime.EnsureInitialized();
        var demo = DemoFixture.Assets;
        string adapterDir = Path.Combine(demo.AdapterRoot, "demo-r8");   // a random rank-8 LoRA
        var tokenizer = TokenizerLoader.FromDirectory(demo.ModelDir);
        var tokens = tokenizer.Encode(DemoAssets.Corpus + " " + DemoAssets.Corpus, addSpecialTokens: false);
        var windows = SqueezeFidelity.Windows(tokens, 16, 6);
        Assert.Equal(6, windows.Count);
        Assert.All(windows, w => Assert.Equal(17, w.Length));
        using var adapter = AdapterReader.Read(adapterDir, demo.ModelDir);
        using var model = CausalLM.Load(demo.ModelDir, torch.CPU, new ModelLoadOptions { AdapterRank = 1, AdapterSlots = 1 });

        var r = SqueezeFidelity.Measure(model, adapter, windows, [1, 2, 8], new SqueezeOptions());

        Assert.Equal(6 * 16, r.Positions);
        var exact = r.Rows.Single(x => x.Rank == 8);
        Assert.True(exact.MeanKl < 1e-5, $"KL at the source rank is {exact.MeanKl}");
        Assert.Equal(1.0, exact.Top1Agreement);
        Assert.Equal(r.ExactPerplexity, exact.Perplexity, 1e-3 * r.ExactPerplexity);
        Assert.Equal(1.0, exact.MinRetainedEnergy, 1e-6);
        var one = r.Rows.Single(x => x.Rank == 1);
        Assert.True(one.MeanKl > 100 * Math.Max(exact.MeanKl, 1e-9), $"rank 1 KL {one.MeanKl} vs rank 8 {exact.MeanKl}");
        Assert.True(one.MeanRetainedEnergy < 1);
        Assert.True(r.BaseKl > 0);
        Assert.NotEqual(r.BasePerplexity, r.ExactPerplexity);
    }
}
