using LoraSqueeze.Training.Data;

namespace LoraSqueeze.Training.Corpora;

/// <summary>
/// A deterministic train/eval split: examples are shuffled with a fixed seed, then a held-out share (5%, at least 20 and
/// at most <c>maxEval</c> examples) becomes the eval set. The same corpus always splits the same way.
/// </summary>
public static class CorpusSplit
{
    public static (List<TrainingExample> Train, List<TrainingExample> Eval) Split(IReadOnlyList<TrainingExample> all, int seed = 0, double evalShare = 0.05, int maxEval = 300)
    {
        var order = Enumerable.Range(0, all.Count).ToArray();
        new Random(seed).Shuffle(order);
        int nEval = Math.Clamp((int)(all.Count * evalShare), Math.Min(20, all.Count / 2), maxEval);
        var eval = order.Take(nEval).Order().Select(i => all[i]).ToList();
        var train = order.Skip(nEval).Select(i => all[i]).ToList();
        return (train, eval);
    }

    /// <summary>Reads a named corpus and writes <c>DIR/NAME/train.jsonl</c> and <c>eval.jsonl</c>; returns the counts.</summary>
    public static (int Train, int Eval) Write(CorpusSource source, string outDir, int maxExamples = int.MaxValue)
    {
        var all = source.Read().Take(maxExamples).ToList();
        var (train, eval) = Split(all);
        var dir = Path.Combine(outDir, source.Name);
        JsonlReader.Write(Path.Combine(dir, "train.jsonl"), train);
        JsonlReader.Write(Path.Combine(dir, "eval.jsonl"), eval);
        return (train.Count, eval.Count);
    }
}
