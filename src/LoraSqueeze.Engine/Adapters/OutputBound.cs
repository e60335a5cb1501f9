using LoraSqueeze.Core.Adapters;

namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// Refuses, at load, squeezed factors that cannot give finite outputs: any non-finite value, or an update whose gain
/// bound ‖B‖_F·‖A‖_F (≥ σ₁(ΔW), the most ΔW can stretch an activation) exceeds <see cref="MaxGain"/>. Fine-tuned
/// adapters have σ₁ of order 1–10; a gain of a million is no fine-tune, and through the MLP's gate·up product and
/// attention's q·k such gains reach float32's 3.4e38 within a few layers. The message names the module.
/// </summary>
public static class OutputBound
{
    /// <summary>The largest ‖B‖_F·‖A‖_F a module may have.</summary>
    public const double MaxGain = 1e6;

    /// <summary>Throws <see cref="AdapterFormatException"/> naming the first module over the bound.</summary>
    public static void Check(LoraWeights weights)
    {
        foreach (var m in weights.Modules)
        {
            if (m.Rank == 0) throw new AdapterFormatException($"module {m.ModulePath}: rank 0 (no factors)");
            double a = m.A.norm().item<float>(), b = m.B.norm().item<float>();   // Frobenius norms, one read per factor
            double gain = a * b;
            if (!double.IsFinite(gain))
                throw new AdapterFormatException($"module {m.ModulePath}: the squeezed factors are not finite (‖A‖ = {a:G3}, ‖B‖ = {b:G3})");
            if (gain > MaxGain)
                throw new AdapterFormatException($"module {m.ModulePath}: update gain ‖B‖·‖A‖ = {gain:G3} exceeds {MaxGain:G0}; its outputs would overflow");
        }
    }
}
