using LoraSqueeze.Training.Data;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Loop;

/// <summary>Masked next-token cross-entropy, shared by every target.</summary>
public static class TokenLoss
{
    /// <summary>Sum of per-token losses over counted targets. logits: [B, T, V] → scalar.</summary>
    public static Tensor Sum(Tensor logits, Batch batch)
    {
        long v = logits.shape[^1];
        var flat = logits.reshape(-1, v);                                               // [B, T, V] → [B·T, V]
        var nll = nn.functional.cross_entropy(flat, batch.Targets.reshape(-1), reduction: nn.Reduction.None); // [B·T]
        return nll.mul(batch.Mask.reshape(-1)).sum();
    }

    /// <summary>Mean over counted targets (what is optimised).</summary>
    public static Tensor Mean(Tensor logits, Batch batch) => Sum(logits, batch).div(Math.Max(1, batch.Tokens));
}
