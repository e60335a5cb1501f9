using System.Diagnostics;
using LoraSqueeze.Training.Adapters;
using LoraSqueeze.Training.Squeeze;

namespace LoraSqueeze.Training.Runs;

/// <summary>Runs the experiment of <see cref="ExperimentOptions"/>; every run is an ordinary <see cref="AdapterTrainingRun"/>.</summary>
public static class ExperimentRunner
{
    public const string Direct = "direct";
    public const string DirectTuned = "direct-tuned";
    public const string Post = "post-squeeze";
    public const string Cont = "cont-squeeze";
    public const string In = "in-squeeze";

    public static ExperimentResult Run(ExperimentOptions o, Action<string> log)
    {
        var clock = Stopwatch.StartNew();
        var cells = new List<ExperimentCell>();
        var basePpl = new Dictionary<string, List<double>>();
        var sourcePpl = new Dictionary<string, List<double>>();
        foreach (var seed in o.Seeds)
        foreach (var task in o.Tasks)
        {
            var data = Path.Combine(o.CorporaDir, task, "train.jsonl");
            var eval = Path.Combine(o.CorporaDir, task, "eval.jsonl");
            var work = Path.Combine(o.WorkDir, task, $"seed-{seed}");
            AdapterTrainingOptions Make(string name, int rank) => new()
            {
                ModelDir = o.ModelDir, DataPath = data, EvalPath = eval, OutDir = Path.Combine(work, name),
                Adapter = new AdapterSpec
                {
                    Rank = rank, TargetModules = o.TargetModules,
                    Alpha = o.Scaling == ExperimentScaling.AlphaR ? null : o.Alpha,
                    UseRsLora = o.Scaling == ExperimentScaling.RsLora,
                    RescaleOnSqueeze = o.Scaling != ExperimentScaling.AlphaR,
                },
                Steps = o.Steps, Lr = o.Lr,
                BatchSize = o.BatchSize, SeqLen = o.SeqLen, Seed = seed, MaxEvalRows = o.MaxEvalRows,
            };
            ExperimentCell Cell(int r, string method, AdapterTrainingResult res, string? note = null) =>
                new(task, seed, r, method, res.FinalEval!.Loss, res.FinalEval.Perplexity, res.UpdateSteps, res.Seconds, note);

            // The source run (rank 64): its checkpoint after the last step is where Post and Cont branch off.
            var src = AdapterTrainingRun.Run(Make($"source-r{o.SourceRank}", o.SourceRank) with { CheckpointEvery = o.Steps, EvalAtStart = true });
            var srcCkpt = Path.Combine(work, $"source-r{o.SourceRank}", "checkpoint");
            (basePpl.TryGetValue(task, out var bl) ? bl : basePpl[task] = []).Add(src.EvalAtStart!.Perplexity);
            (sourcePpl.TryGetValue(task, out var sl) ? sl : sourcePpl[task] = []).Add(src.FinalEval!.Perplexity);
            log($"{task} seed {seed}: base ppl {src.EvalAtStart.Perplexity:F2}, source r={o.SourceRank} ppl {src.FinalEval.Perplexity:F2} ({src.Seconds:F0} s)");
            foreach (int r in o.TargetRanks)
            {
                var direct = AdapterTrainingRun.Run(Make($"direct-r{r}", r));
                cells.Add(Cell(r, Direct, direct));
                var best = (Run: direct, Lr: o.Lr);
                foreach (var lr in o.DirectLrSweep)
                {
                    var d = AdapterTrainingRun.Run(Make($"direct-r{r}-lr{lr:G3}", r) with { Lr = lr });
                    if (d.FinalEval!.Perplexity < best.Run.FinalEval!.Perplexity) best = (d, lr);
                }
                cells.Add(Cell(r, DirectTuned, best.Run, $"lr {best.Lr:G3}"));
                var post = AdapterTrainingRun.Run(Make($"post-r{r}", o.SourceRank) with { SqueezeTo = r, ResumeFrom = srcCkpt });
                cells.Add(Cell(r, Post, post, post.Log.Events.LastOrDefault()?.Detail));
                var cont = AdapterTrainingRun.Run(Make($"cont-r{r}", o.SourceRank) with { SqueezeTo = r, RecoverSteps = o.RecoverSteps, ResumeFrom = srcCkpt });
                cells.Add(Cell(r, Cont, cont, $"+{o.RecoverSteps} recovery steps"));
                var inSq = AdapterTrainingRun.Run(Make($"in-r{r}", o.SourceRank) with
                {
                    Anneal = (o.SourceRank, r, AnnealShape.Geometric, o.InSqueezeStages),
                });
                var ranks = RankSchedule.Create(o.SourceRank, r, o.InSqueezeStages, AnnealShape.Geometric, o.Steps).Ranks;
                cells.Add(Cell(r, In, inSq, "ranks " + string.Join("→", ranks)));
                log($"{task} seed {seed} r={r}: direct {direct.FinalEval!.Perplexity:F2}, post {post.FinalEval!.Perplexity:F2}, cont {cont.FinalEval!.Perplexity:F2}, in {inSq.FinalEval!.Perplexity:F2} ({clock.Elapsed.TotalMinutes:F1} min so far)");
            }
        }
        return new ExperimentResult(o, cells, basePpl.ToDictionary(kv => kv.Key, kv => kv.Value.Average()),
            sourcePpl.ToDictionary(kv => kv.Key, kv => kv.Value.Average()), clock.Elapsed.TotalSeconds);
    }
}
