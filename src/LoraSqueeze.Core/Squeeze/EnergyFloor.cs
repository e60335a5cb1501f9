namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// A floor on the spectral energy a uniform squeeze keeps (<see cref="SqueezeOptions.Floor"/>): instead of cutting every
/// adapter to the slot rank r whatever it loses, an adapter that keeps less than <see cref="MinEnergy"/> of Σσ² is
/// squeezed to k·r, the smallest multiple (up to <see cref="MaxMultiple"/>) that meets the floor. The server then gives it
/// k slots of rank r (docs/squeeze.md, "An energy floor at serve time"). <see cref="Measure"/> says what must meet it:
/// every module (the default, the strict reading) or the mean over modules (what Adapters.Get's retained_energy shows).
/// </summary>
public sealed record EnergyFloor(double MinEnergy, int MaxMultiple, EnergyFloorMeasure Measure = EnergyFloorMeasure.WorstModule)
{
    /// <summary>Throws naming the setting when the floor cannot work.</summary>
    public void Validate()
    {
        if (!(MinEnergy > 0 && MinEnergy <= 1))
            throw new ArgumentOutOfRangeException(nameof(MinEnergy), MinEnergy, $"the minimum retained energy must be in (0, 1], got {MinEnergy}");
        if (MaxMultiple < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxMultiple), MaxMultiple, $"the maximum slots per adapter must be at least 1, got {MaxMultiple}");
        if (!Enum.IsDefined(Measure)) throw new ArgumentOutOfRangeException(nameof(Measure), Measure, "the floor measure must be WorstModule or Mean");
    }

    /// <summary>The measured energy of modules whose retained energy at each rank is <paramref name="retainedAt"/>, at <paramref name="rank"/>.</summary>
    public double Measured(IReadOnlyList<Func<int, double>> retainedAt, int rank) =>
        retainedAt.Count == 0 ? 1 : Measure == EnergyFloorMeasure.Mean ? retainedAt.Average(f => f(rank)) : retainedAt.Min(f => f(rank));

    /// <summary>What a finished squeeze kept by this floor's measure.</summary>
    public double Measured(SqueezeReport report) => Measure == EnergyFloorMeasure.Mean ? report.MeanRetainedEnergy : report.MinRetainedEnergy;

    /// <summary>
    /// The smallest k in 1..<see cref="MaxMultiple"/> at which the modules (their retained energy at each rank) meet the
    /// floor at rank k·<paramref name="rank"/>, or <see cref="MaxMultiple"/> when none does.
    /// </summary>
    public int MultipleFor(IReadOnlyList<Func<int, double>> retainedAt, int rank)
    {
        for (int k = 1; k <= MaxMultiple; k++)
        {
            if (Measured(retainedAt, k * rank) >= MinEnergy) return k;
        }
        return MaxMultiple;
    }
}

/// <summary>What an <see cref="EnergyFloor"/> is checked against.</summary>
public enum EnergyFloorMeasure
{
    /// <summary>Every module must keep the floor (the minimum over modules).</summary>
    WorstModule,

    /// <summary>The mean over modules must keep it.</summary>
    Mean,
}
