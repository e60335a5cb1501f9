namespace LoraSqueeze.Core.Squeeze;

/// <summary>How a module's spectrum is computed.</summary>
public enum SqueezeMethod
{
    /// <summary>Exact factored path for factored kinds, randomized SVD for dense kinds (DoRA, deltas).</summary>
    Auto,

    /// <summary>Exact factored path only; dense kinds are refused.</summary>
    Exact,

    /// <summary>Randomized SVD through the operator, for every kind.</summary>
    Rsvd,

    /// <summary>Materialise ΔW and run a full SVD (the reference; slow).</summary>
    Dense,
}
