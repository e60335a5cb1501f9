using System.Text.Json;
using LoraSqueeze.Core.Safetensors;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Loop;

/// <summary>
/// A resumable checkpoint folder: <c>state.safetensors</c> holds the target's tensors (<c>target/…</c>) and the AdamW
/// moments (<c>exp_avg/…</c>, <c>exp_avg_sq/…</c>) bit for bit in float32; <c>trainer_state.json</c> holds the next
/// step, the data position (epoch, row), each parameter's AdamW step count and the log. Written to a temporary folder
/// and renamed, so an interrupted save never leaves a half checkpoint.
/// </summary>
public static class Checkpoint
{
    private const string TensorFile = "state.safetensors";
    private const string StateFile = "trainer_state.json";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private sealed record State(int Step, int Epoch, int Position, int Seed, Dictionary<string, long> OptimizerSteps, TrainingLog Log);

    public static bool Exists(string dir) => File.Exists(Path.Combine(dir, StateFile)) && File.Exists(Path.Combine(dir, TensorFile));

    internal static void Save(string dir, Trainer trainer, ITrainingTarget target)
    {
        var full = Path.GetFullPath(dir);
        var tmp = full + ".tmp";
        if (Directory.Exists(tmp)) Directory.Delete(tmp, true);
        Directory.CreateDirectory(tmp);
        using (var scope = NewDisposeScope())
        {
            var tensors = new List<KeyValuePair<string, Tensor>>();
            foreach (var (name, t) in target.StateTensors()) tensors.Add(new("target/" + name, t.detach().contiguous()));
            foreach (var (name, s) in trainer.Optimizer.State)
            {
                tensors.Add(new("exp_avg/" + name, s.ExpAvg));
                tensors.Add(new("exp_avg_sq/" + name, s.ExpAvgSq));
            }
            SafetensorsWriter.Write(Path.Combine(tmp, TensorFile), tensors);
        }
        var state = new State(trainer.Step, trainer.Sampler.Epoch, trainer.Sampler.Position, trainer.Options.Seed,
            trainer.Optimizer.State.ToDictionary(kv => kv.Key, kv => kv.Value.Step), trainer.Log);
        File.WriteAllText(Path.Combine(tmp, StateFile), JsonSerializer.Serialize(state, Json));
        if (Directory.Exists(full)) Directory.Delete(full, true);
        Directory.Move(tmp, full);
    }

    internal static void Load(string dir, Trainer trainer, ITrainingTarget target)
    {
        if (!Exists(dir)) throw new FileNotFoundException($"{dir}: no checkpoint ({StateFile} and {TensorFile}) to resume from");
        var state = JsonSerializer.Deserialize<State>(File.ReadAllText(Path.Combine(dir, StateFile)), Json)
            ?? throw new InvalidDataException($"{dir}/{StateFile}: empty");
        if (state.Seed != trainer.Options.Seed)
            throw new InvalidOperationException($"{dir}: checkpoint was made with --seed {state.Seed}, this run uses {trainer.Options.Seed}");
        using var file = SafetensorsFile.Open(Path.Combine(dir, TensorFile));
        // No dispose scope here: the target and the optimiser keep tensors created while loading.
        var targetState = file.Names.Where(n => n.StartsWith("target/", StringComparison.Ordinal))
            .ToDictionary(n => n["target/".Length..], n => file.ReadTensor(n), StringComparer.Ordinal);
        try
        {
            target.LoadState(targetState);
        }
        finally
        {
            foreach (var t in targetState.Values) t.Dispose();
        }
        trainer.SyncOptimizer();
        foreach (var (name, step) in state.OptimizerSteps)
        {
            if (!trainer.Optimizer.State.ContainsKey(name))
                throw new InvalidDataException($"{dir}: checkpoint has optimiser state for '{name}', which this run does not train");
            using var m = file.ReadTensor("exp_avg/" + name);
            using var v = file.ReadTensor("exp_avg_sq/" + name);
            trainer.Optimizer.Restore(name, m, v, step);
        }
        trainer.RestoreProgress(state.Step, state.Epoch, state.Position, state.Log);
    }
}
