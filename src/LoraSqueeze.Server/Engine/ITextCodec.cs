namespace LoraSqueeze.Server.Engine;

/// <summary>
/// The model's tokenizer as the service layer uses it: plain managed code, safe to call from any request thread
/// (no tensors), so tokenizing never occupies the engine thread.
/// </summary>
public interface ITextCodec
{
    /// <summary>Token ids of a prompt, with the model's special prefix tokens (BOS) when it has them.</summary>
    int[] Encode(string text);

    /// <summary>Text of generated token ids (special tokens skipped).</summary>
    string Decode(IReadOnlyList<int> tokenIds);

    /// <summary>Vocabulary size: prompt token ids must be below it.</summary>
    int VocabSize { get; }
}
