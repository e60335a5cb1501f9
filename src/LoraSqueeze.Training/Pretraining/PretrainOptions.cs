namespace LoraSqueeze.Training.Pretraining;

/// <summary>
/// <c>lorasqueeze pretrain</c>: a small LLaMA-architecture model trained from scratch with its own byte-level BPE
/// tokenizer. Defaults are the demo model's (sized for a two-core CPU: ~1.6 M parameters).
/// </summary>
public sealed record PretrainOptions
{
    public required string DataPath { get; init; }
    public string? EvalPath { get; init; }
    public required string OutDir { get; init; }
    public int VocabSize { get; init; } = 2048;
    public int HiddenSize { get; init; } = 128;
    public int IntermediateSize { get; init; } = 352;
    public int Layers { get; init; } = 4;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public bool TieEmbeddings { get; init; } = true;
    public int MaxPositions { get; init; } = 512;
    public int Steps { get; init; } = 1000;
    public double Lr { get; init; } = 3e-3;
    public int BatchSize { get; init; } = 16;
    public int SeqLen { get; init; } = 128;
    public int Seed { get; init; } = 1234;
    public double WeightDecay { get; init; } = 0.1;
    public int EvalEvery { get; init; } = 100;
    public int MaxEvalRows { get; init; } = 64;
    public int CheckpointEvery { get; init; }
    public bool Resume { get; init; }

    public string CheckpointDir => Path.Combine(OutDir, "checkpoint");
}
