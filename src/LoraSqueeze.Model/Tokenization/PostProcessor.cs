namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// The <c>post_processor</c> step for single sequences (<c>tokenizers/src/processors/template.rs</c>):
/// the ids to put before and after the encoded text when special tokens are asked for.
/// ByteLevel post-processing only trims offsets, so it contributes nothing to ids.
/// </summary>
public sealed record PostProcessor(IReadOnlyList<int> Prefix, IReadOnlyList<int> Suffix)
{
    public static readonly PostProcessor None = new([], []);

    public int[] Apply(List<int> ids)
    {
        if (Prefix.Count == 0 && Suffix.Count == 0) return [.. ids];
        var result = new int[Prefix.Count + ids.Count + Suffix.Count];
        int k = 0;
        foreach (int id in Prefix) result[k++] = id;
        foreach (int id in ids) result[k++] = id;
        foreach (int id in Suffix) result[k++] = id;
        return result;
    }
}
