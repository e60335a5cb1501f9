namespace LoraSqueeze.Training.Optim;

/// <summary>
/// Linear warmup, then cosine decay to <see cref="MinLr"/> at <see cref="TotalSteps"/> (nanoGPT's <c>get_lr</c>).
/// Steps are 0-based; step 0 already has a non-zero rate (lr/warmup), as in nanoGPT's <c>(it + 1)</c> form.
/// </summary>
public sealed record LrSchedule(double PeakLr, int WarmupSteps, int TotalSteps, double MinLr)
{
    /// <summary>The usual setting: warmup 5% of the steps (at least 1), decay to 10% of the peak.</summary>
    public static LrSchedule Default(double peakLr, int totalSteps) =>
        new(peakLr, Math.Max(1, totalSteps / 20), totalSteps, peakLr * 0.1);

    public double At(int step)
    {
        if (step < WarmupSteps) return PeakLr * (step + 1) / WarmupSteps;
        if (step >= TotalSteps) return MinLr;
        double ratio = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        double coeff = 0.5 * (1.0 + Math.Cos(Math.PI * ratio)); // 1 → 0
        return MinLr + coeff * (PeakLr - MinLr);
    }
}
