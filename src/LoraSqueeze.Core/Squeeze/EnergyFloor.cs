namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// A floor on the spectral energy a uniform squeeze keeps (<see cref="SqueezeOptions.Floor"/>): instead of cutting every
/// adapter to the slot rank r whatever it loses, an adapter that keeps less than <see cref="MinEnergy"/> of Σσ² in any
/// module is squeezed to k·r, the smallest multiple (up to <see cref="MaxMultiple"/>) that meets the floor everywhere.
/// The server then gives it k slots of rank r (docs/squeeze.md, "An energy floor at serve time").
/// </summary>
public sealed record EnergyFloor(double MinEnergy, int MaxMultiple)
{
    /// <summary>Throws naming the setting when the floor cannot work.</summary>
    public void Validate()
    {
        if (!(MinEnergy > 0 && MinEnergy <= 1))
            throw new ArgumentOutOfRangeException(nameof(MinEnergy), MinEnergy, $"the minimum retained energy must be in (0, 1], got {MinEnergy}");
        if (MaxMultiple < 1)
            throw new ArgumentOutOfRangeException(nameof(MaxMultiple), MaxMultiple, $"the maximum slots per adapter must be at least 1, got {MaxMultiple}");
    }

    /// <summary>
    /// The smallest k in 1..<see cref="MaxMultiple"/> at which <paramref name="retainedAt"/>(k·r) ≥ the floor for this
    /// module, or <see cref="MaxMultiple"/> when none is.
    /// </summary>
    public int MultipleFor(Func<int, double> retainedAt, int rank)
    {
        for (int k = 1; k <= MaxMultiple; k++)
        {
            if (retainedAt(k * rank) >= MinEnergy) return k;
        }
        return MaxMultiple;
    }
}
