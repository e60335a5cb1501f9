namespace LoraSqueeze.Training.Data;

/// <summary>
/// What the data pipeline needs from a tokenizer: plain encoding (no special tokens) plus the BOS/EOS ids that frame
/// each example. A delegate rather than the model's tokenizer type, so data tests need no tokenizer files.
/// </summary>
public sealed record TokenEncoder(Func<string, int[]> Encode, int? BosId, int EosId, int PadId);
