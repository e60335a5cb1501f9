using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Training.Adapters;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Tests;

[Collection("torch")]
public class AdapterTests
{
    /// <summary>Two fake layers' projections with HF paths and small random weights.</summary>
    private static List<(string Path, Tensor Weight)> Projections()
    {
        using var gen = new Generator(11);
        var list = new List<(string, Tensor)>();
        for (int l = 0; l < 2; l++)
        {
            list.Add(($"model.layers.{l}.self_attn.q_proj", randn([16, 16], generator: gen).mul_(0.1)));
            list.Add(($"model.layers.{l}.self_attn.v_proj", randn([8, 16], generator: gen).mul_(0.1)));
            list.Add(($"model.layers.{l}.mlp.down_proj", randn([16, 24], generator: gen).mul_(0.1)));
        }
        return list;
    }

    /// <summary>Gives B a random value so ΔW ≠ 0 (training would; the test needs a non-trivial update).</summary>
    private static void Perturb(TrainableAdapter adapter, int seed)
    {
        using var gen = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (_, t, role) in adapter.NamedParameters())
        {
            if (role == ParameterRole.UpProjection) t.copy_(randn(t.shape, generator: gen));
            if (role == ParameterRole.Vector) t.add_(randn(t.shape, generator: gen).mul_(0.1));
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Lora_writes_PEFT_that_the_squeeze_engine_reads_back(bool rslora)
    {
        var dir = Path.Combine(Path.GetTempPath(), "ls-lora-" + Guid.NewGuid().ToString("N"));
        try
        {
            var spec = new AdapterSpec { Rank = 4, Alpha = 8, UseRsLora = rslora, TargetModules = ["q_proj", "down_proj"] };
            using var adapter = new TrainableAdapter(spec, Projections(), seed: 3);
            Perturb(adapter, 5);
            Assert.Equal(4, adapter.Modules.Count); // q_proj and down_proj of two layers, not v_proj
            adapter.Save(dir, "base");
            using var loaded = AdapterReader.Read(dir);
            Assert.Equal(rslora ? AdapterKind.RsLora : AdapterKind.Lora, loaded.Kind);
            double s = rslora ? 8 / Math.Sqrt(4) : 8.0 / 4;
            foreach (var m in adapter.Modules.Cast<LoraModuleTrainer>())
            {
                var delta = loaded.Modules.Single(d => d.ModulePath == m.ModulePath);
                using var expected = m.B.detach().matmul(m.A.detach()).mul(s);
                using var got = delta.Rows(0, delta.OutFeatures);
                Assert.True(got.allclose(expected, rtol: 1e-5, atol: 1e-6), m.ModulePath);
            }
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Squeeze_keeps_the_scale_and_equals_the_truncated_svd()
    {
        var spec = new AdapterSpec { Rank = 8, Alpha = 16 };
        using var adapter = new TrainableAdapter(spec, Projections(), seed: 3);
        Perturb(adapter, 7);
        var before = adapter.Modules.Cast<LoraModuleTrainer>().Select(m => m.B.detach().matmul(m.A.detach()).mul(m.Scale)).ToList();
        double energy = adapter.SqueezeTo(3);
        Assert.InRange(energy, 0.0, 1.0);
        Assert.Equal(3, adapter.Rank);
        Assert.Equal(6.0, adapter.Spec.EffectiveAlpha, 10); // α/r = 2 kept
        int i = 0;
        foreach (var m in adapter.Modules.Cast<LoraModuleTrainer>())
        {
            Assert.Equal([3, m.InFeatures], m.A.shape);
            Assert.Equal([m.OutFeatures, 3], m.B.shape);
            Assert.Equal(2.0, m.Scale, 12);
            Assert.True(m.A.requires_grad && m.B.requires_grad);
            using var dense = DenseSvd.Compute(before[i].to_type(ScalarType.Float64));
            var (u, sv, vh) = (dense.U.narrow(1, 0, 3), dense.S.narrow(0, 0, 3), dense.Vh.narrow(0, 0, 3));
            using var optimum = u.mul(sv.unsqueeze(0)).matmul(vh).to_type(ScalarType.Float32); // Eckart–Young rank-3 truncation
            using var got = m.B.detach().matmul(m.A.detach()).mul(m.Scale);
            Assert.True(got.allclose(optimum, rtol: 1e-4, atol: 1e-5), m.ModulePath);
            i++;
        }
        foreach (var t in before) t.Dispose();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void Rescaling_squeeze_keeps_delta_w_and_moves_s_to_the_rule_at_the_new_rank(bool rsLora)
    {
        // rsLoRA r = 16, α = 8: s = 2 before; after a squeeze to 4 the rule gives s = 8/√4 = 4 (fixed α: 8/16 → 8/4).
        var spec = new AdapterSpec { Rank = 16, Alpha = 8, UseRsLora = rsLora, RescaleOnSqueeze = true };
        using var adapter = new TrainableAdapter(spec, Projections(), seed: 5);
        Perturb(adapter, 11);
        var modules = adapter.Modules.Cast<LoraModuleTrainer>().ToList();
        Assert.Equal(rsLora ? 2.0 : 0.5, modules[0].Scale, 12);
        var before = modules.Select(m => m.B.detach().matmul(m.A.detach()).mul(m.Scale)).ToList();
        adapter.SqueezeTo(4);
        Assert.Equal(8.0, adapter.Spec.EffectiveAlpha, 10);  // α stays
        for (int i = 0; i < modules.Count; i++)
        {
            var m = modules[i];
            Assert.Equal(rsLora ? 4.0 : 2.0, m.Scale, 12);
            using var dense = DenseSvd.Compute(before[i].to_type(ScalarType.Float64));
            using var optimum = dense.U.narrow(1, 0, 4).mul(dense.S.narrow(0, 0, 4).unsqueeze(0)).matmul(dense.Vh.narrow(0, 0, 4)).to_type(ScalarType.Float32);
            using var got = m.B.detach().matmul(m.A.detach()).mul(m.Scale);   // s'·B·A: the same rank-4 truncation of ΔW
            Assert.True(got.allclose(optimum, rtol: 1e-4, atol: 1e-5), m.ModulePath);
        }
        foreach (var t in before) t.Dispose();
    }

    [Fact]
    public void Periodic_merge_keeps_the_update_and_squeezes_it_exactly()
    {
        var spec = new AdapterSpec { Rank = 2, Alpha = 2, TargetModules = ["q_proj"] };
        using var adapter = new TrainableAdapter(spec, Projections(), seed: 3);
        var m = (LoraModuleTrainer)adapter.Modules[0];
        Perturb(adapter, 1);
        using var first = m.B.detach().matmul(m.A.detach());
        adapter.MergeAndReinit(seed: 9);
        Assert.Equal(0f, m.B.abs().sum().item<float>());     // B re-initialised to zero
        Perturb(adapter, 2);
        using var second = m.B.detach().matmul(m.A.detach());
        var (p, q) = m.Factors();
        Assert.Equal(4, p.shape[1]);                          // two periods of rank 2, still factored
        using var total = first + second;
        Assert.True(p.matmul(q).allclose(total, rtol: 1e-5, atol: 1e-6));
        adapter.SqueezeTo(4);                                 // rank ≥ true rank: exact
        Assert.True(m.B.detach().matmul(m.A.detach()).allclose(total, rtol: 1e-4, atol: 1e-5));
        Assert.Null(m.MergedP);
    }

    [Fact]
    public void Dora_and_vera_follow_their_definitions()
    {
        var projections = Projections();
        using var dora = new TrainableAdapter(new AdapterSpec { Variant = AdapterVariant.Dora, Rank = 2, TargetModules = ["q_proj"] }, projections, 1);
        using var vera = new TrainableAdapter(new AdapterSpec { Variant = AdapterVariant.Vera, Rank = 6, TargetModules = ["q_proj", "down_proj"] }, projections, 1);
        Perturb(dora, 3);
        Perturb(vera, 3);
        using var x = randn(5, 16);
        var (path, w0) = projections[0];
        using var y0 = x.matmul(w0.t());

        var d = (LoraModuleTrainer)dora.Find(path)!;
        using var merged = w0 + d.B.detach().matmul(d.A.detach()).mul(d.Scale);                 // W0 + sBA
        using var scaleRows = d.Magnitude!.detach() / merged.norm(1, keepdim: false);           // m / ‖·‖_row
        using var expectedDora = x.matmul(merged.t()).mul(scaleRows);
        Assert.True(d.Forward(x, w0, y0).allclose(expectedDora, rtol: 1e-5, atol: 1e-6));
        Assert.Contains(d.Parameters(), p => p.Suffix == "lora_magnitude_vector");

        var v = (VeraModuleTrainer)vera.Find(path)!;
        var (sharedA, sharedB) = VeraProjections.Generate(0, 6, 24, 16);                        // max_in 24, max_out 16
        using var dw = v.LambdaB.detach().unsqueeze(1) * sharedB.narrow(0, 0, 16).mul(v.LambdaD.detach().unsqueeze(0)).matmul(sharedA.narrow(1, 0, 16));
        Assert.True(v.Forward(x, w0, y0).allclose(y0 + x.matmul(dw.t()), rtol: 1e-5, atol: 1e-6));
        Assert.Equal(2, v.Parameters().Count());
    }
}
