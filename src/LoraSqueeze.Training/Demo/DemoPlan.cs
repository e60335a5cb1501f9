using LoraSqueeze.Training.Adapters;
using LoraSqueeze.Training.Pretraining;
using LoraSqueeze.Training.Squeeze;

namespace LoraSqueeze.Training.Demo;

/// <summary>One demo adapter: its corpus, how it is trained, and a prompt that shows its style.</summary>
public sealed record DemoAdapter(string Name, string Corpus, string Kind, AdapterSpec Spec, double Lr, string Prompt)
{
    public (int Source, int Target, AnnealShape Shape, int Stages)? Anneal { get; init; }
    public int MergeEvery { get; init; }
    public int? SqueezeTo { get; init; }
}

/// <summary>
/// What <c>lorasqueeze demo build</c> makes: the base model pre-trained on the King James Bible, and seven adapters on
/// distinct corpora covering the adapter kinds the squeeze engine reads (LoRA, rsLoRA, LoRA+, LoRA-FA, DoRA, VeRA, and an
/// In-Squeezed LoRA) with source ranks from 4 to 128.
/// </summary>
public static class DemoPlan
{
    public const int AdapterSteps = 300;
    public const int AdapterBatch = 8;
    public const int AdapterSeqLen = 64;
    public const int Seed = 1234;

    public static PretrainOptions Base(string corporaDir, string outDir) => new()
    {
        DataPath = Path.Combine(corporaDir, "kjv", "train.jsonl"),
        EvalPath = Path.Combine(corporaDir, "kjv", "eval.jsonl"),
        OutDir = outDir,
        Steps = 1000,
        BatchSize = 16,
        SeqLen = 128,
        EvalEvery = 100,
        CheckpointEvery = 200,
    };

    public static IReadOnlyList<DemoAdapter> Adapters { get; } =
    [
        new("fortunes-en", "fortunes-en", "LoRA r=16", new AdapterSpec { Rank = 16 }, 3e-3, "A wise man"),
        new("fortunes-de", "fortunes-de", "rsLoRA r=64, α=8", new AdapterSpec { Rank = 64, Alpha = 8, UseRsLora = true }, 3e-3, "Das Leben ist"),
        new("fortunes-es", "fortunes-es", "LoRA+ r=8 (η_B/η_A = 16)", new AdapterSpec { Rank = 8, LoraPlusRatio = 16 }, 5e-4, "El amor es"),
        new("fortunes-it", "fortunes-it", "LoRA In-Squeezed 64→8", new AdapterSpec { Rank = 64 }, 3e-3, "La vita è")
        {
            Anneal = (64, 8, AnnealShape.Geometric, 4),
        },
        new("devil", "devil", "DoRA r=32", new AdapterSpec { Variant = AdapterVariant.Dora, Rank = 32 }, 3e-3, "LAWYER, n."),
        new("jargon", "jargon", "VeRA r=128", new AdapterSpec { Variant = AdapterVariant.Vera, Rank = 128 }, 2e-2, "kludge:"),
        new("bofh", "bofh", "LoRA-FA r=4 (A frozen)", new AdapterSpec { Rank = 4, FreezeA = true }, 5e-3, "BOFH excuse:"),
    ];
}
