namespace LoraSqueeze.Engine.Text;

/// <summary>
/// The model's tokenizer as front ends use it: plain managed code, safe to call from any request thread (no tensors),
/// so tokenizing and detokenizing never occupy the engine thread.
/// </summary>
public interface ITextCodec
{
    /// <summary>Token ids of a prompt, with the model's special prefix tokens (BOS) when it has them.</summary>
    int[] Encode(string text);

    /// <summary>
    /// Token ids of a text; without <paramref name="addSpecialTokens"/> the post-processor adds nothing (a rendered
    /// chat template already holds its BOS, as transformers' apply_chat_template encodes it).
    /// </summary>
    int[] Encode(string text, bool addSpecialTokens);

    /// <summary>The text of one token as logprobs show it (special tokens included, e.g. <c>&lt;|eot_id|&gt;</c>).</summary>
    string TokenText(int tokenId);

    /// <summary>Text of generated token ids (special tokens skipped).</summary>
    string Decode(IReadOnlyList<int> tokenIds);

    /// <summary>A streamer for one request's output; the prompt's tail gives the decoder its context.</summary>
    TextStreamer CreateStreamer(IReadOnlyList<int> promptTokens, IReadOnlyList<string> stops);

    /// <summary>Vocabulary size: prompt token ids must be below it.</summary>
    int VocabSize { get; }
}
