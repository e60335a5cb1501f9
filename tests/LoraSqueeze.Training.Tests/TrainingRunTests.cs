using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Safetensors;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Reference;
using LoraSqueeze.Training.Adapters;
using LoraSqueeze.Training.Runs;
using LoraSqueeze.Training.Squeeze;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Tests;

[CollectionDefinition("torch")]
public class TorchCollection : ICollectionFixture<TinyFixture>;

[Collection("torch")]
public class TrainingRunTests(TinyFixture fx)
{
    private AdapterTrainingOptions Options(string name, int rank, int steps = 24) => new()
    {
        ModelDir = fx.ModelDir, DataPath = fx.DataPath, EvalPath = fx.EvalPath, OutDir = fx.Out(name),
        Adapter = new AdapterSpec { Rank = rank }, Steps = steps, Lr = 1e-2, BatchSize = 4, SeqLen = 16, Seed = 5, MaxEvalRows = 16,
    };

    [Fact]
    public void Training_forward_matches_the_reference_decoder_and_carries_gradients()
    {
        using var model = CausalLM.Load(fx.ModelDir, CPU, new ModelLoadOptions { AdapterSlots = 0, ForTraining = true });
        int[] tokens = [5, 17, 42, 9, 100, 3, 77];
        using var ids = tensor(tokens.Select(t => (long)t).ToArray()).view(1, -1);
        using var logits = model.ForwardSequence(ids, null);                   // [1, 7, vocab]
        using var reference = ReferenceDecoder.Logits(model, tokens, -1);      // [7, vocab]
        double err = (logits[0] - reference).abs().max().item<float>() / reference.abs().max().item<float>();
        Assert.True(err < 1e-4, $"relative error {err}");

        using var adapter = new TrainableAdapter(new AdapterSpec { Rank = 2 }, model.Projections.Select(p => (p.Path, p.Weight)), 1);
        var target = new AdapterTarget(model, adapter);
        using (no_grad())
        {
            foreach (var (_, t, role) in adapter.NamedParameters()) if (role == ParameterRole.UpProjection) t.fill_(0.01);
        }
        using var batch = Data.Batch.From([new Data.TokenRow([.. tokens, 8], [false, .. Enumerable.Repeat(true, 7)])]);
        using var loss = target.Loss(batch);
        loss.backward();
        Assert.All(target.Parameters, p => Assert.True(p.Tensor.grad is not null && p.Tensor.grad.abs().sum().item<float>() > 0, p.Name));
        Assert.All(model.NamedParameters(), p => Assert.Null(p.Tensor.grad)); // the base stays frozen
    }

    [Fact]
    public void Short_lora_run_lowers_the_held_out_loss()
    {
        var r = AdapterTrainingRun.Run(Options("learn", 4, steps: 30) with { EvalAtStart = true });
        Assert.True(r.FinalEval!.Loss < r.EvalAtStart!.Loss - 0.5, $"eval loss {r.EvalAtStart.Loss:F3} → {r.FinalEval.Loss:F3}");
        Assert.True(File.Exists(Path.Combine(r.AdapterDir, "adapter_model.safetensors")));
    }

    [Fact]
    public void Resume_across_an_in_squeeze_stage_gives_the_identical_adapter()
    {
        var plan = (8, 2, AnnealShape.Geometric, 3); // ranks 8 → 4 → 2, squeezes before steps 3 and 6
        var straight = AdapterTrainingRun.Run(Options("straight", 8, 9) with { Anneal = plan });
        var first = Options("interrupted", 8, 9) with { Anneal = plan, CheckpointEvery = 4, StopAfter = 4 };
        AdapterTrainingRun.Run(first);                             // stops after step 5 with a checkpoint after step 4
        var resumed = AdapterTrainingRun.Run(first with { StopAfter = null, Resume = true });
        Assert.Equal(2, resumed.FinalRank);
        using var a = SafetensorsFile.Open(Path.Combine(straight.AdapterDir, "adapter_model.safetensors"));
        using var b = SafetensorsFile.Open(Path.Combine(resumed.AdapterDir, "adapter_model.safetensors"));
        Assert.Equal(a.Names.Order(), b.Names.Order());
        foreach (var name in a.Names)
        {
            using var ta = a.ReadTensor(name);
            using var tb = b.ReadTensor(name);
            Assert.True(TensorAssert.Identical(ta, tb), name);
        }
        Assert.Equal(straight.Log.Steps.Select(s => s.Loss), resumed.Log.Steps.Select(s => s.Loss));
    }

    [Fact]
    public void Optimizer_state_after_an_in_squeeze_stage_has_the_new_shapes()
    {
        var shapes = new Dictionary<int, long[]>();
        AdapterTrainingRun.Run(Options("shapes", 8, 6) with { Anneal = (8, 2, AnnealShape.Linear, 2) }, trainer =>
        {
            trainer.OnStep = (rec, _) =>
            {
                var s = trainer.Optimizer.State["model.layers.0.self_attn.q_proj.lora_A.weight"];
                shapes[rec.Step] = s.ExpAvg.shape;
                Assert.Equal(s.ExpAvg.shape, s.ExpAvgSq.shape);
                Assert.Equal(rec.Step < 3 ? rec.Step + 1 : rec.Step - 2, s.Step); // step count restarts at the squeeze
            };
        });
        Assert.Equal([8, 32], shapes[2]);
        Assert.Equal([2, 32], shapes[3]);
        Assert.Equal([2, 32], shapes[5]);
    }

    public static TheoryData<string> Modes => ["post", "cont", "in", "periodic"];

    [Theory]
    [MemberData(nameof(Modes))]
    public void Each_squeeze_mode_writes_an_adapter_of_the_requested_rank_that_loads_and_installs(string mode)
    {
        var o = Options(mode, 8, 8);
        o = mode switch
        {
            "post" => o with { SqueezeTo = 3 },
            "cont" => o with { SqueezeTo = 3, RecoverSteps = 3 },
            "in" => o with { Anneal = (8, 3, AnnealShape.Cosine, 3) },
            _ => o with { Adapter = o.Adapter with { Rank = 2 }, MergeEvery = 3, SqueezeTo = 3 },
        };
        var r = AdapterTrainingRun.Run(o);
        Assert.Equal(3, r.FinalRank);
        Assert.Equal(mode == "cont" ? 11 : 8, r.UpdateSteps);
        using var loaded = AdapterReader.Read(r.AdapterDir, fx.ModelDir);
        Assert.All(loaded.Modules, m => Assert.Equal(3, m.SourceRank));
        // Through the squeeze engine and into a serving slot of rank 3, as the server does on load.
        var (weights, report) = AdapterSqueezer.LoadAndSqueeze(r.AdapterDir, 3, baseModelDir: fx.ModelDir);
        using (weights)
        {
            Assert.True(report.MinRetainedEnergy > 0.999999, $"a rank-3 adapter squeezed to 3 keeps everything ({report.MinRetainedEnergy})");
            using var model = CausalLM.Load(fx.ModelDir, CPU, new ModelLoadOptions { AdapterRank = 3, AdapterSlots = 2 });
            model.Adapters.Install(1, weights);
            using var withAdapter = ReferenceDecoder.Logits(model, [5, 6, 7], 1);
            using var bare = ReferenceDecoder.Logits(model, [5, 6, 7], -1);
            Assert.True((withAdapter - bare).abs().max().item<float>() > 1e-4);
        }
    }

    [Theory]
    [InlineData(AdapterVariant.Dora)]
    [InlineData(AdapterVariant.Vera)]
    public void Dora_and_vera_runs_write_adapters_the_squeeze_engine_reads(AdapterVariant variant)
    {
        var o = Options(variant.ToString(), variant == AdapterVariant.Vera ? 16 : 4, 6);
        var r = AdapterTrainingRun.Run(o with { Adapter = o.Adapter with { Variant = variant } });
        using var loaded = AdapterReader.Read(r.AdapterDir, fx.ModelDir);
        Assert.Equal(variant == AdapterVariant.Dora ? AdapterKind.Dora : AdapterKind.Vera, loaded.Kind);
        Assert.Equal(2 * 7, loaded.Modules.Count);
    }
}

[Collection("torch")]
public class DemoSampleTests(TinyFixture fx)
{
    [Fact]
    public void Demo_samples_run_trained_adapters_through_squeeze_on_load_and_the_batch_generator()
    {
        var dirs = new List<(string, string, string)>();
        foreach (var (name, spec) in new[] { ("lora", new AdapterSpec { Rank = 8 }), ("vera", new AdapterSpec { Variant = AdapterVariant.Vera, Rank = 16 }) })
        {
            var r = AdapterTrainingRun.Run(new AdapterTrainingOptions
            {
                ModelDir = fx.ModelDir, DataPath = fx.DataPath, OutDir = fx.Out(name), Adapter = spec, Steps = 20, Lr = 2e-2, BatchSize = 4, SeqLen = 16, Seed = 2,
            });
            dirs.Add((name, r.AdapterDir, "the"));
        }
        var samples = Demo.DemoSamples.Generate(fx.ModelDir, dirs, slotRank: 4, maxTokens: 8);
        Assert.Equal(2, samples.Count);
        Assert.All(samples, s => Assert.False(string.IsNullOrEmpty(s.AdapterText)));
        Assert.NotEqual(samples[0].BaseText, samples[0].AdapterText); // same seed, different weights
    }
}

[Collection("torch")]
public class ExperimentRunnerTests(TinyFixture fx)
{
    [Fact]
    public void Experiment_runs_every_method_with_the_stated_budgets()
    {
        var corpora = Path.Combine(fx.Root, "corpora-" + Guid.NewGuid().ToString("N")[..6]);
        Directory.CreateDirectory(Path.Combine(corpora, "toy"));
        File.Copy(fx.DataPath, Path.Combine(corpora, "toy", "train.jsonl"));
        File.Copy(fx.EvalPath, Path.Combine(corpora, "toy", "eval.jsonl"));
        var o = new ExperimentOptions
        {
            ModelDir = fx.ModelDir, CorporaDir = corpora, WorkDir = Path.Combine(corpora, "work"), Tasks = ["toy"], TargetRanks = [1, 2],
            SourceRank = 8, Steps = 6, RecoverSteps = 2, InSqueezeStages = 3, BatchSize = 2, SeqLen = 16, MaxEvalRows = 4, Seeds = [1, 2],
            DirectLrSweep = [1e-2],
        };
        var r = ExperimentRunner.Run(o, _ => { });
        Assert.Equal(2 * 2 * 5, r.Cells.Count); // seeds × ranks × (direct, direct-tuned, post, cont, in)
        Assert.All(r.Cells.Where(c => c.Method == ExperimentRunner.Cont), c => Assert.Equal(8, c.UpdateSteps));
        Assert.All(r.Cells.Where(c => c.Method != ExperimentRunner.Cont), c => Assert.Equal(6, c.UpdateSteps));
        Assert.All(r.Cells, c => Assert.True(double.IsFinite(c.Perplexity)));
        foreach (var g in r.Cells.GroupBy(c => (c.Seed, c.TargetRank)))
        {
            var direct = g.Single(c => c.Method == ExperimentRunner.Direct).Perplexity;
            Assert.True(g.Single(c => c.Method == ExperimentRunner.DirectTuned).Perplexity <= direct); // the sweep includes the default lr
        }
    }
}
