using static TorchSharp.torch;

namespace LoraSqueeze.Training.Optim;

/// <summary>Global-norm gradient clipping, as <c>torch.nn.utils.clip_grad_norm_</c> (coefficient max/(norm + 1e-6), capped at 1).</summary>
public static class GradClip
{
    /// <summary>Scales every gradient in place so their joint L2 norm is at most <paramref name="maxNorm"/>; returns the norm before clipping.</summary>
    public static double ClipByGlobalNorm(IEnumerable<Tensor> parameters, double maxNorm)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var grads = parameters.Select(p => p.grad).Where(g => g is not null).Select(g => g!).ToList();
        if (grads.Count == 0) return 0;
        var total = stack(grads.Select(g => g.norm()).ToArray()).norm().item<float>();
        if (maxNorm > 0 && total > maxNorm)
        {
            double coeff = maxNorm / (total + 1e-6);
            foreach (var g in grads) g.mul_(coeff);
        }
        return total;
    }
}
