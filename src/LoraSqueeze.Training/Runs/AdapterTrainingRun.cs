using System.Diagnostics;
using System.Text.Json;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model;
using LoraSqueeze.Training.Adapters;
using LoraSqueeze.Training.Loop;
using LoraSqueeze.Training.Optim;
using LoraSqueeze.Training.Squeeze;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Runs;

/// <summary>
/// One adapter training run in any mode: plain, Post-Squeeze (squeeze after the last step), Cont-Squeeze (squeeze at
/// step N, then <c>--recover-steps</c> more at the target rank), In-Squeeze (the rank falls at stage boundaries) and
/// PeriodicLoRA (merge every K steps, squeeze at the end). Every squeeze is the exact factored one of the squeeze
/// engine. Optimiser moments of replaced factors are reset (docs/training.md explains why). Writes the PEFT adapter,
/// <c>training_log.json</c>, and a checkpoint when asked.
/// </summary>
public static class AdapterTrainingRun
{
    public static AdapterTrainingResult Run(AdapterTrainingOptions o, Action<Trainer>? configure = null, Action<string>? log = null, Action<Trainer>? drive = null)
    {
        o.Validate();
        TorchRuntime.EnsureInitialized();
        var clock = Stopwatch.StartNew();
        manual_seed(o.Seed);
        var encoder = ModelData.Encoder(o.ModelDir);
        var trainRows = ModelData.Rows(o.DataPath, encoder, o.SeqLen);
        var evalRows = o.EvalPath is null ? null : ModelData.Rows(o.EvalPath, encoder, o.SeqLen, o.MaxEvalRows);
        log?.Invoke($"{trainRows.Count} training rows of {o.SeqLen + 1} tokens" + (evalRows is null ? "" : $", {evalRows.Count} eval rows"));

        using var model = CausalLM.Load(o.ModelDir, CPU, new ModelLoadOptions { AdapterSlots = 0, ForTraining = true });
        var spec = o.Anneal is { } an ? o.Adapter with { Rank = an.Source } : o.Adapter;
        using var adapter = new TrainableAdapter(spec, model.Projections.Select(p => (p.Path, p.Weight)), o.Seed);
        var target = new AdapterTarget(model, adapter);

        int recover = o.SqueezeTo is not null ? o.RecoverSteps : 0;
        int total = o.Steps + recover;
        var main = new LrSchedule(o.Lr, o.WarmupSteps ?? Math.Max(1, o.Steps / 20), o.Steps, o.Lr * 0.1);
        // Cont-Squeeze recovery: its own short warmup (the reset moments make the first steps unreliable) and decay.
        var rec = new LrSchedule(o.Lr, Math.Max(1, recover / 10), Math.Max(1, recover), o.Lr * 0.1);
        var schedule = o.Anneal is { } a ? RankSchedule.Create(a.Source, a.Target, a.Stages, a.Shape, o.Steps) : null;
        var options = new TrainerOptions
        {
            Steps = total,
            BatchSize = o.BatchSize,
            SeqLen = o.SeqLen,
            Seed = o.Seed,
            MaxGradNorm = o.MaxGradNorm,
            LearningRate = s => s < o.Steps ? main.At(s) : rec.At(s - o.Steps),
            EvalEvery = o.EvalEvery,
            CheckpointEvery = o.CheckpointEvery,
            CheckpointDir = o.CheckpointEvery > 0 ? o.CheckpointDir : null,
            StopAfter = o.StopAfter,
        };
        using var trainer = new Trainer(target, options, trainRows, evalRows) { CurrentRank = () => adapter.Rank };
        EvalRecord? beforeSqueeze = null;
        trainer.BeforeStep = step =>
        {
            if (schedule is not null && step > 0 && schedule.StageOf(step) != schedule.StageOf(step - 1))
            {
                int from = adapter.Rank, to = schedule.RankAt(step);
                double e = adapter.SqueezeTo(to);
                return new EventRecord(step, "in-squeeze", $"rank {from}→{to}, retained energy {e:F4}");
            }
            if (o.MergeEvery > 0 && step > 0 && step < o.Steps && step % o.MergeEvery == 0)
            {
                adapter.MergeAndReinit(unchecked(o.Seed * 7919 + step));
                return new EventRecord(step, "periodic-merge", $"merged rank-{adapter.Rank} update, re-initialised A and B");
            }
            if (recover > 0 && step == o.Steps)
            {
                beforeSqueeze = trainer.Evaluate();
                int from = adapter.Rank;
                double e = adapter.SqueezeTo(o.SqueezeTo!.Value);
                return new EventRecord(step, "cont-squeeze", $"rank {from}→{o.SqueezeTo}, retained energy {e:F4}; {recover} recovery steps follow");
            }
            return null;
        };
        configure?.Invoke(trainer);
        var atStart = o.EvalAtStart ? trainer.Evaluate() : null;
        if (o.Resume || o.ResumeFrom is not null)
        {
            trainer.Resume(o.ResumeFrom ?? o.CheckpointDir);
            log?.Invoke($"resumed at step {trainer.Step}");
        }
        if (drive is null) trainer.Run();
        else drive(trainer);

        // Post-Squeeze, and PeriodicLoRA's final squeeze of its accumulated update.
        if ((o.SqueezeTo is not null && recover == 0) || o.MergeEvery > 0)
        {
            beforeSqueeze = trainer.Evaluate();
            int from = adapter.Rank, to = o.SqueezeTo ?? adapter.Rank;
            double e = adapter.SqueezeTo(to);
            trainer.Log.Events.Add(new EventRecord(trainer.Step, o.MergeEvery > 0 ? "periodic-squeeze" : "post-squeeze",
                $"rank {from}→{to}, retained energy {e:F4}"));
        }
        var final = trainer.Evaluate();
        adapter.Save(o.OutDir, o.BaseModelName ?? o.ModelDir);
        trainer.Log.Seconds = clock.Elapsed.TotalSeconds;
        var result = new AdapterTrainingResult(trainer.Log, final, beforeSqueeze, atStart, adapter.Rank, total, o.OutDir, clock.Elapsed.TotalSeconds);
        File.WriteAllText(Path.Combine(o.OutDir, "training_log.json"), JsonSerializer.Serialize(new { o.Mode, Options = Describe(o), result.FinalRank, result.UpdateSteps, result.FinalEval, result.EvalBeforeSqueeze, result.EvalAtStart, result.Seconds, result.Log }, LogJson));
        return result;
    }

    private static readonly JsonSerializerOptions LogJson = new() { WriteIndented = true };

    private static object Describe(AdapterTrainingOptions o) => new
    {
        o.ModelDir, o.DataPath, o.EvalPath, Variant = o.Adapter.Variant.ToString(), o.Adapter.Rank, Alpha = o.Adapter.EffectiveAlpha,
        o.Adapter.UseRsLora, o.Adapter.FreezeA, o.Adapter.LoraPlusRatio, o.Adapter.TargetModules, o.Steps, o.Lr, o.BatchSize, o.SeqLen, o.Seed,
        o.SqueezeTo, o.RecoverSteps, Anneal = o.Anneal?.ToString(), o.MergeEvery,
    };
}
