using System.Diagnostics;
using LoraSqueeze.Training.Data;
using LoraSqueeze.Training.Optim;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Loop;

/// <summary>
/// The training loop (nanoGPT's <c>train.py</c> shape): for each step, run the hooks for that step (squeezes, merges),
/// take the next batch, forward, backward, clip, AdamW with the step's learning rate, log; evaluate and checkpoint
/// on schedule. Parameters replaced by a hook get fresh optimiser moments (see docs/training.md on the moment policy).
/// A checkpoint holds everything the next step depends on (parameters and target state, moments and per-parameter
/// step counts, the data position, the log), so a resumed run continues bit for bit.
/// </summary>
public sealed class Trainer : IDisposable
{
    private readonly ITrainingTarget _target;
    private readonly IReadOnlyList<TokenRow>? _evalRows;
    private readonly Dictionary<string, Tensor> _tracked = new(StringComparer.Ordinal);

    public Trainer(ITrainingTarget target, TrainerOptions options, IReadOnlyList<TokenRow> trainRows, IReadOnlyList<TokenRow>? evalRows = null)
    {
        _target = target;
        Options = options;
        _evalRows = evalRows is { Count: > 0 } ? evalRows : null;
        Sampler = new BatchSampler(trainRows, options.BatchSize, options.Seed);
        Optimizer = new AdamW(options.Beta1, options.Beta2, 1e-8, options.WeightDecay);
        SyncOptimizer();
    }

    public TrainerOptions Options { get; }
    public AdamW Optimizer { get; }
    public BatchSampler Sampler { get; private set; }
    public TrainingLog Log { get; private set; } = new();

    /// <summary>The next step to run (0-based).</summary>
    public int Step { get; private set; }

    /// <summary>Runs before step s's batch; may replace the target's parameters. Returns an event to log, or null.</summary>
    public Func<int, EventRecord?>? BeforeStep { get; set; }

    /// <summary>Called after each step with its record and the estimated seconds left.</summary>
    public Action<StepRecord, double>? OnStep { get; set; }

    /// <summary>Called after each evaluation.</summary>
    public Action<EvalRecord>? OnEval { get; set; }

    /// <summary>The rank reported in step records (set by the caller that knows the adapter).</summary>
    public Func<int>? CurrentRank { get; set; }

    /// <summary>Runs until <see cref="TrainerOptions.Steps"/> (or <see cref="TrainerOptions.StopAfter"/>).</summary>
    public void Run()
    {
        int last = Math.Min(Options.Steps, Options.StopAfter is int stop ? stop + 1 : int.MaxValue);
        var clock = Stopwatch.StartNew();
        double secondsBefore = Log.Seconds;
        int firstStep = Step;
        while (Step < last)
        {
            var ev = BeforeStep?.Invoke(Step);
            if (ev is not null)
            {
                Log.Events.Add(ev);
                SyncOptimizer();
            }
            var stepClock = Stopwatch.StartNew();
            double lr = Options.LearningRate(Step);
            double loss, gradNorm;
            long tokens;
            using (var scope = NewDisposeScope())
            {
                using var batch = Sampler.Next();
                tokens = batch.Tokens;
                var lossT = _target.Loss(batch);
                lossT.backward();
                loss = lossT.item<float>();
                var parameters = _target.Parameters;
                gradNorm = GradClip.ClipByGlobalNorm(parameters.Select(p => p.Tensor), Options.MaxGradNorm);
                Optimizer.Step(parameters.ToDictionary(p => p.Name, p => p.Tensor), lr);
                foreach (var p in parameters) p.Tensor.grad?.zero_();
            }
            double secs = stepClock.Elapsed.TotalSeconds;
            Log.Tokens += tokens;
            var record = new StepRecord(Step, loss, lr, gradNorm, CurrentRank?.Invoke() ?? 0, tokens / Math.Max(secs, 1e-9));
            Log.Steps.Add(record);
            Step++;
            Log.Seconds = secondsBefore + clock.Elapsed.TotalSeconds;
            double perStep = clock.Elapsed.TotalSeconds / Math.Max(1, Step - firstStep);
            OnStep?.Invoke(record, perStep * (last - Step));
            if (Options.EvalEvery > 0 && Step % Options.EvalEvery == 0 && Step < Options.Steps) Evaluate();
            if (Options.CheckpointEvery > 0 && Options.CheckpointDir is not null && Step % Options.CheckpointEvery == 0)
                Checkpoint.Save(Options.CheckpointDir, this, _target);
        }
    }

    /// <summary>Perplexity on the eval rows (mean loss over counted targets, exp'd), logged at the current step.</summary>
    public EvalRecord? Evaluate()
    {
        if (_evalRows is null) return null;
        var (loss, _) = EvalLoss(_target, _evalRows, Options.BatchSize);
        var rec = new EvalRecord(Step, loss, Math.Exp(loss));
        Log.Evals.Add(rec);
        OnEval?.Invoke(rec);
        return rec;
    }

    /// <summary>Mean masked loss over <paramref name="rows"/> in fixed order, without gradients.</summary>
    public static (double Loss, long Tokens) EvalLoss(ITrainingTarget target, IReadOnlyList<TokenRow> rows, int batchSize)
    {
        double sum = 0;
        long tokens = 0;
        using var _ = no_grad();
        for (int i = 0; i < rows.Count; i += batchSize)
        {
            using var scope = NewDisposeScope();
            var slice = rows.Skip(i).Take(batchSize).ToList();
            using var batch = Batch.From(slice);
            if (batch.Tokens == 0) continue;
            // Loss() is the mean; scale back to a sum so batches of different sizes weigh by their tokens.
            sum += target.Loss(batch).item<float>() * batch.Tokens;
            tokens += batch.Tokens;
        }
        return (tokens == 0 ? double.NaN : sum / tokens, tokens);
    }

    /// <summary>
    /// Brings the optimiser in line with the target's parameters: a parameter that is new, or whose tensor was replaced
    /// (a squeeze, a merge), starts with zero moments and step 0; vanished ones are dropped.
    /// </summary>
    internal void SyncOptimizer()
    {
        var current = _target.Parameters;
        var names = new HashSet<string>(current.Select(p => p.Name), StringComparer.Ordinal);
        foreach (var gone in _tracked.Keys.Where(n => !names.Contains(n)).ToList())
        {
            Optimizer.Remove(gone);
            _tracked.Remove(gone);
        }
        foreach (var p in current)
        {
            if (_tracked.TryGetValue(p.Name, out var seen) && ReferenceEquals(seen, p.Tensor)) continue;
            Optimizer.Add(p.Name, p.Tensor, p.LrScale, p.Decay);
            _tracked[p.Name] = p.Tensor;
        }
    }

    /// <summary>Restores step, data position and log (the checkpoint reader calls this after loading tensors).</summary>
    internal void RestoreProgress(int step, int epoch, int position, TrainingLog log)
    {
        Step = step;
        Log = log;
        Sampler = new BatchSampler(SamplerRows(), Options.BatchSize, Options.Seed, epoch, position);
    }

    private IReadOnlyList<TokenRow> SamplerRows() => Sampler.Rows;

    /// <summary>Loads a checkpoint written by this trainer's configuration.</summary>
    public void Resume(string checkpointDir) => Checkpoint.Load(checkpointDir, this, _target);

    public void Dispose() => Optimizer.Dispose();
}
