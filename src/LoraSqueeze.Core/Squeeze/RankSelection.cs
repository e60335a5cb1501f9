namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// Non-uniform ranks for offline export (beyond the paper): by energy threshold, or by a parameter budget spent
/// greedily on the singular value with the most energy per parameter (σ²/(out+in)), which is optimal for the total
/// Frobenius error under that budget since each extra rank-1 term costs out+in parameters.
/// </summary>
public static class RankSelection
{
    /// <summary>Smallest k ≤ maxRank with Σ_{i≤k}σ² ≥ energy·total (maxRank when never reached; 0 for ΔW = 0).</summary>
    public static int ByEnergy(double[] singularValues, double totalEnergy, double energy, int maxRank)
    {
        if (energy is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(energy), energy, "energy must be in (0, 1]");
        if (totalEnergy <= 0) return 0;
        double kept = 0;
        for (int k = 0; k < Math.Min(maxRank, singularValues.Length); k++)
        {
            kept += singularValues[k] * singularValues[k];
            if (kept >= energy * totalEnergy * (1 - 1e-12)) return k + 1;
        }
        return maxRank;
    }

    /// <summary>Ranks per module (same order) using at most <paramref name="budget"/> parameters, each ≤ maxRank.</summary>
    public static int[] ByParamBudget(IReadOnlyList<(double[] Values, long Out, long In)> modules, long budget, int maxRank)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(budget);
        var ranks = new int[modules.Count];
        var queue = new PriorityQueue<int, double>();
        for (int m = 0; m < modules.Count; m++) Enqueue(m);
        long spent = 0;
        while (queue.TryDequeue(out int m, out _))
        {
            long cost = modules[m].Out + modules[m].In;
            if (spent + cost > budget) continue; // A cheaper module's next value may still fit.
            spent += cost;
            ranks[m]++;
            Enqueue(m);
        }
        return ranks;

        void Enqueue(int m)
        {
            var (v, o, i) = modules[m];
            int k = ranks[m];
            if (k < Math.Min(maxRank, v.Length) && v[k] > 0) queue.Enqueue(m, -(v[k] * v[k]) / (o + i));
        }
    }
}
