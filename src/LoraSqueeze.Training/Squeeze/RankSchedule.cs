namespace LoraSqueeze.Training.Squeeze;

/// <summary>How the rank falls between stages in In-Squeeze.</summary>
public enum AnnealShape
{
    /// <summary>r_i = r_src + (r_tgt − r_src)·t.</summary>
    Linear,

    /// <summary>r_i = r_tgt + (r_src − r_tgt)·(1 + cos πt)/2: slow at first, fast in the middle, slow at the end.</summary>
    Cosine,

    /// <summary>r_i = r_src·(r_tgt/r_src)^t: a constant ratio per stage (64→32→16→8 for 4 stages), as the sd-scripts port.</summary>
    Geometric,
}

/// <summary>
/// The In-Squeeze plan: <see cref="Ranks"/> has one rank per stage (first r_src, last r_tgt, never rising), and stage i
/// covers steps [<see cref="StageStart"/>(i), StageStart(i+1)). Stages have equal length (the paper holds the total
/// number of update steps fixed and splits it across the rank stages; LoRA-Squeeze, arXiv 2602.10993, In-Squeeze; docs/training.md "LoRA-Squeeze modes"), the last one taking
/// the remainder. A squeeze happens at the start of every stage but the first, with t = i/(K−1).
/// </summary>
public sealed class RankSchedule
{
    private RankSchedule(int[] ranks, int totalSteps)
    {
        Ranks = ranks;
        TotalSteps = totalSteps;
    }

    public IReadOnlyList<int> Ranks { get; }
    public int TotalSteps { get; }
    public int Stages => Ranks.Count;

    public static RankSchedule Create(int sourceRank, int targetRank, int stages, AnnealShape shape, int totalSteps)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(targetRank, 1);
        if (sourceRank < targetRank) throw new ArgumentException($"--anneal {sourceRank}:{targetRank}: the source rank must be at least the target rank");
        ArgumentOutOfRangeException.ThrowIfLessThan(stages, 2);
        if (totalSteps < stages) throw new ArgumentException($"{totalSteps} steps cannot hold {stages} stages");
        var ranks = new int[stages];
        for (int i = 0; i < stages; i++)
        {
            double t = (double)i / (stages - 1);
            double r = shape switch
            {
                AnnealShape.Linear => sourceRank + (targetRank - sourceRank) * t,
                AnnealShape.Cosine => targetRank + (sourceRank - targetRank) * 0.5 * (1 + Math.Cos(Math.PI * t)),
                AnnealShape.Geometric => sourceRank * Math.Pow((double)targetRank / sourceRank, t),
                _ => throw new ArgumentOutOfRangeException(nameof(shape)),
            };
            ranks[i] = Math.Clamp((int)Math.Round(r), targetRank, sourceRank);
            if (i > 0) ranks[i] = Math.Min(ranks[i], ranks[i - 1]);
        }
        ranks[0] = sourceRank;
        ranks[^1] = targetRank;
        return new RankSchedule(ranks, totalSteps);
    }

    /// <summary>First step of stage <paramref name="stage"/> (stage K is TotalSteps).</summary>
    public int StageStart(int stage) => stage >= Stages ? TotalSteps : (int)((long)TotalSteps * stage / Stages);

    /// <summary>The stage that step <paramref name="step"/> belongs to.</summary>
    public int StageOf(int step)
    {
        for (int i = Stages - 1; i > 0; i--)
            if (step >= StageStart(i)) return i;
        return 0;
    }

    /// <summary>Rank in force at <paramref name="step"/>.</summary>
    public int RankAt(int step) => Ranks[StageOf(step)];

    /// <summary>Parses "linear", "cosine" or "geometric".</summary>
    public static AnnealShape ParseShape(string text) => text.Trim().ToLowerInvariant() switch
    {
        "linear" => AnnealShape.Linear,
        "cosine" => AnnealShape.Cosine,
        "geometric" => AnnealShape.Geometric,
        _ => throw new ArgumentException($"--schedule {text}: expected linear, cosine or geometric"),
    };

    /// <summary>Parses "R_SRC:R_TGT".</summary>
    public static (int Source, int Target) ParseAnneal(string text)
    {
        var parts = text.Split(':');
        if (parts.Length != 2 || !int.TryParse(parts[0], out int s) || !int.TryParse(parts[1], out int t) || s < 1 || t < 1)
            throw new ArgumentException($"--anneal {text}: expected R_SRC:R_TGT with positive integers, e.g. 64:8");
        return (s, t);
    }
}
