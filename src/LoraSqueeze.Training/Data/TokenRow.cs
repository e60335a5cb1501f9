namespace LoraSqueeze.Training.Data;

/// <summary>
/// One training row of <c>seqLen + 1</c> token ids: inputs are ids[0..seqLen), targets ids[1..seqLen], and
/// <see cref="LossMask"/>[t] says whether target t counts in the loss (prompt tokens and padding do not).
/// </summary>
public sealed record TokenRow(int[] Ids, bool[] LossMask);
