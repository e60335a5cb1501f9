using static TorchSharp.torch;

namespace LoraSqueeze.Training.Optim;

/// <summary>
/// AdamW (Loshchilov and Hutter 2019), the same update as <c>torch.optim.AdamW</c> with <c>amsgrad=False</c>:
/// p ← p·(1 − lr·wd); m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; p ← p − lr·m̂/(√v̂ + ε) with bias-corrected m̂, v̂.
/// Written out rather than taken from TorchSharp because the LoRA-Squeeze modes replace parameters mid-run (new
/// shapes at each squeeze) and checkpoints must save and restore the moments exactly: here the state is plain named
/// tensors that the trainer can reset, resize and write to safetensors.
/// Each parameter has its own step count (bias correction restarts when a parameter's state is reset) and an lr
/// multiplier (LoRA+ gives B a larger rate than A).
/// </summary>
public sealed class AdamW : IDisposable
{
    private readonly Dictionary<string, ParamState> _state = new(StringComparer.Ordinal);

    public AdamW(double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, double weightDecay = 0.0)
    {
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        WeightDecay = weightDecay;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public double WeightDecay { get; }

    /// <summary>Per-parameter state: first moment (exp_avg), second moment (exp_avg_sq), step count.</summary>
    public sealed class ParamState(Tensor expAvg, Tensor expAvgSq, long step, double lrScale, bool decay)
    {
        public Tensor ExpAvg { get; internal set; } = expAvg;
        public Tensor ExpAvgSq { get; internal set; } = expAvgSq;
        public long Step { get; internal set; } = step;
        public double LrScale { get; } = lrScale;
        public bool Decay { get; } = decay;
    }

    public IReadOnlyDictionary<string, ParamState> State => _state;

    /// <summary>Registers a parameter with zero moments (replacing any earlier state under the same name).</summary>
    public void Add(string name, Tensor param, double lrScale = 1.0, bool decay = true)
    {
        Remove(name);
        _state[name] = new ParamState(zeros_like(param), zeros_like(param), 0, lrScale, decay);
    }

    /// <summary>Drops a parameter's state (e.g. the old factors at a squeeze).</summary>
    public void Remove(string name)
    {
        if (_state.Remove(name, out var s))
        {
            s.ExpAvg.Dispose();
            s.ExpAvgSq.Dispose();
        }
    }

    /// <summary>Restores saved moments and step (checkpoint resume). Shapes must match.</summary>
    public void Restore(string name, Tensor expAvg, Tensor expAvgSq, long step)
    {
        var s = _state[name];
        using (no_grad())
        {
            s.ExpAvg.copy_(expAvg);
            s.ExpAvgSq.copy_(expAvgSq);
        }
        s.Step = step;
    }

    /// <summary>One update of every registered parameter that has a gradient. <paramref name="parameters"/> maps names to tensors.</summary>
    public void Step(IReadOnlyDictionary<string, Tensor> parameters, double lr)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (name, s) in _state)
        {
            var p = parameters[name];
            var g = p.grad;
            if (g is null) continue;
            s.Step++;
            double plr = lr * s.LrScale;
            if (s.Decay && WeightDecay != 0) p.mul_(1 - plr * WeightDecay);
            s.ExpAvg.mul_(Beta1).add_(g, alpha: 1 - Beta1);
            s.ExpAvgSq.mul_(Beta2).addcmul_(g, g, value: 1 - Beta2);
            double bc1 = 1 - Math.Pow(Beta1, s.Step);
            double bc2 = 1 - Math.Pow(Beta2, s.Step);
            // PyTorch's formulation: denom = √v / √bc2 + ε; p −= (lr / bc1) · m / denom.
            var denom = s.ExpAvgSq.sqrt().div_(Math.Sqrt(bc2)).add_(Eps);
            p.addcdiv_(s.ExpAvg, denom, value: -plr / bc1);
        }
    }

    public void Dispose()
    {
        foreach (var s in _state.Values)
        {
            s.ExpAvg.Dispose();
            s.ExpAvgSq.Dispose();
        }
        _state.Clear();
    }
}
