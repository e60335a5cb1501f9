using LoraSqueeze.Training.Data;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Loop;

/// <summary>A trainable tensor with its optimiser settings.</summary>
public sealed record TrainableParameter(string Name, Tensor Tensor, double LrScale = 1.0, bool Decay = true);

/// <summary>
/// What the <see cref="Trainer"/> trains: an adapter over a frozen base, or a whole model (pre-training). The trainer owns
/// the loop, the optimiser, the schedule and checkpoints; the target owns the forward pass and its parameters, which
/// may be replaced between steps (a squeeze or a PeriodicLoRA merge), in which case the trainer resets their moments.
/// </summary>
public interface ITrainingTarget
{
    /// <summary>The current trainable parameters (names are stable; tensors may change identity and shape).</summary>
    IReadOnlyList<TrainableParameter> Parameters { get; }

    /// <summary>Mean cross-entropy over the counted targets of <paramref name="batch"/>, as a scalar with a graph.</summary>
    Tensor Loss(Batch batch);

    /// <summary>Every tensor needed to resume exactly (parameters and any state the target keeps beside them).</summary>
    IEnumerable<(string Name, Tensor Tensor)> StateTensors();

    /// <summary>Restores what <see cref="StateTensors"/> returned (shapes may differ from the current ones after a squeeze).
    /// The given tensors are disposed after the call: copy or clone what is kept.</summary>
    void LoadState(IReadOnlyDictionary<string, Tensor> state);
}
