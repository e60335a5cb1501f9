using System.Text;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Text;
using LoraSqueeze.Model.Sampling;

namespace LoraSqueeze.Server.OpenAi;

/// <summary>
/// Token events as OpenAI's two logprobs shapes. Legacy completions: parallel lists of token texts, logprobs, top-k
/// dicts (which hold the chosen token too, as vLLM's do) and character offsets into the choice's text (each token's
/// own decoded length, so a token that completes a multi-byte character can shift them against the streamed text, as in vLLM). Chat: one
/// object per token with its UTF-8 bytes and the top alternatives.
/// </summary>
internal static class LogprobFormatting
{
    /// <summary>
    /// Completions logprobs of <paramref name="events"/>; <paramref name="offset"/> is the text offset of the first token
    /// and advances past them. <paramref name="prompt"/> (echo): the prompt's tokens and positions' logprobs come first.
    /// </summary>
    public static CompletionLogprobs Completion(ITextCodec codec, IReadOnlyList<TokenEvent> events, int topK, ref int offset,
        int[]? prompt = null, IReadOnlyList<PositionLogprobs>? promptLogprobs = null)
    {
        var result = new CompletionLogprobs([], [], [], []);
        if (prompt is not null)
        {
            for (int i = 0; i < prompt.Length; i++)
            {
                if (i == 0 || promptLogprobs is null || i - 1 >= promptLogprobs.Count)
                {
                    Add(result, codec, prompt[i], null, null, ref offset);
                    continue;
                }
                var p = promptLogprobs[i - 1];
                Add(result, codec, prompt[i], p.Logprob, p.Top.Take(topK), ref offset);
            }
        }
        foreach (var e in events) Add(result, codec, e.TokenId, e.Logprob, (e.Top ?? []).Take(topK), ref offset);
        return result;
    }

    private static void Add(CompletionLogprobs r, ITextCodec codec, int token, float? logprob, IEnumerable<TokenLogprob>? top, ref int offset)
    {
        string text = codec.TokenText(token);
        r.Tokens.Add(text);
        r.TokenLogprobs.Add(logprob);
        r.TextOffset.Add(offset);
        // Offsets index the choice's text, which leaves special tokens out (an echoed BOS adds nothing to it).
        offset += codec.Decode([token]).Length;
        if (logprob is not float lp)
        {
            r.TopLogprobs.Add(null);
            return;
        }
        var dict = new Dictionary<string, float>(StringComparer.Ordinal) { [text] = lp };
        foreach (var t in top ?? []) dict.TryAdd(codec.TokenText(t.TokenId), t.Logprob);
        r.TopLogprobs.Add(dict);
    }

    public static ChatLogprobs Chat(ITextCodec codec, IReadOnlyList<TokenEvent> events, int topK) =>
        new(events.Select(e =>
        {
            string text = codec.TokenText(e.TokenId);
            var top = (e.Top ?? []).Take(topK).Select(t =>
            {
                string alt = codec.TokenText(t.TokenId);
                return new ChatTopLogprob(alt, t.Logprob, Bytes(alt));
            }).ToList();
            return new ChatTokenLogprob(text, e.Logprob, Bytes(text), top);
        }).ToList());

    private static List<int> Bytes(string text) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToList();
}
