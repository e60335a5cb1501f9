using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// The BPE model of <c>tokenizer.json</c> (<c>tokenizers/src/models/bpe/model.rs</c> and <c>word.rs</c>): a word is
/// split into chars, each looked up in the vocabulary (else byte-fallback <c>&lt;0xNN&gt;</c> tokens, else the unknown
/// token), then adjacent pairs are merged lowest merge rank first, leftmost first on ties, with a priority queue
/// (O(n log n) per word). Results are cached per word, as HF does, because natural text repeats words.
/// </summary>
public sealed class BpeModel
{
    // HF caches words shorter than this (bpe/model.rs MAX_LENGTH) in a bounded cache.
    private const int MaxCachedWordLength = 256;
    private const int CacheCapacity = 100_000;

    private readonly Dictionary<string, int> _vocab;
    private readonly string?[] _idToToken;
    private readonly Dictionary<long, (int Rank, int NewId)> _merges;
    private readonly ConcurrentDictionary<string, int[]> _cache = new(StringComparer.Ordinal);
    private readonly int[] _byteFallbackIds;

    public BpeModel(
        Dictionary<string, int> vocab,
        IReadOnlyList<(string Left, string Right)> merges,
        string? unkToken = null,
        bool fuseUnk = false,
        bool byteFallback = false,
        bool ignoreMerges = false)
    {
        _vocab = vocab;
        int maxId = vocab.Count == 0 ? -1 : vocab.Values.Max();
        _idToToken = new string?[maxId + 1];
        foreach (var (token, id) in vocab)
        {
            if (id < 0) throw new TokenizerFormatException($"model.vocab: negative id {id} for token '{token}'.");
            _idToToken[id] = token;
        }

        _merges = new Dictionary<long, (int, int)>(merges.Count);
        for (int rank = 0; rank < merges.Count; rank++)
        {
            var (left, right) = merges[rank];
            if (!vocab.TryGetValue(left, out int a) || !vocab.TryGetValue(right, out int b))
                throw new TokenizerFormatException($"model.merges[{rank}]: '{left} {right}' uses a token missing from model.vocab.");
            if (!vocab.TryGetValue(left + right, out int merged))
                throw new TokenizerFormatException($"model.merges[{rank}]: merged token '{left + right}' is missing from model.vocab.");
            // The first occurrence of a pair wins, as in HF (later duplicates have a higher rank and never fire).
            _merges.TryAdd(PairKey(a, b), (rank, merged));
        }

        if (unkToken is not null)
        {
            if (!vocab.TryGetValue(unkToken, out int unk))
                throw new TokenizerFormatException($"model.unk_token: '{unkToken}' is not in model.vocab.");
            UnkId = unk;
        }

        FuseUnk = fuseUnk;
        ByteFallback = byteFallback;
        IgnoreMerges = ignoreMerges;
        _byteFallbackIds = new int[256];
        for (int b = 0; b < 256; b++)
            _byteFallbackIds[b] = vocab.TryGetValue(ByteToken(b), out int id) ? id : -1;
    }

    public int? UnkId { get; }

    public bool FuseUnk { get; }

    public bool ByteFallback { get; }

    public bool IgnoreMerges { get; }

    public int MergeCount => _merges.Count;

    /// <summary>One past the largest vocabulary id.</summary>
    public int IdCount => _idToToken.Length;

    public IReadOnlyDictionary<string, int> Vocab => _vocab;

    public string? IdToToken(int id) => (uint)id < (uint)_idToToken.Length ? _idToToken[id] : null;

    public int? TokenToId(string token) => _vocab.TryGetValue(token, out int id) ? id : null;

    /// <summary>The SentencePiece byte token for <paramref name="b"/>, e.g. <c>&lt;0x0A&gt;</c>.</summary>
    public static string ByteToken(int b) => string.Create(CultureInfo.InvariantCulture, $"<0x{b:X2}>");

    /// <summary>Tokenizes one pre-tokenized word and appends its ids.</summary>
    public void EncodeWord(string word, List<int> output)
    {
        if (word.Length == 0) return;
        if (IgnoreMerges && _vocab.TryGetValue(word, out int whole))
        {
            // Llama-3 sets ignore_merges: a word that is itself a vocabulary token is emitted as is (bpe/model.rs).
            output.Add(whole);
            return;
        }
        if (word.Length < MaxCachedWordLength && _cache.TryGetValue(word, out var cached))
        {
            output.AddRange(cached);
            return;
        }
        var ids = Merge(word);
        if (word.Length < MaxCachedWordLength)
        {
            // A bounded cache: dropping it all when full is crude but keeps memory flat under adversarial input.
            if (_cache.Count >= CacheCapacity) _cache.Clear();
            _cache.TryAdd(word, ids);
        }
        output.AddRange(ids);
    }

    private int[] Merge(string word)
    {
        var ids = new List<int>(word.Length);
        bool lastWasUnk = false;
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i < word.Length;)
        {
            int len = char.IsHighSurrogate(word[i]) && i + 1 < word.Length && char.IsLowSurrogate(word[i + 1]) ? 2 : 1;
            string ch = word.Substring(i, len);
            i += len;
            if (_vocab.TryGetValue(ch, out int id))
            {
                ids.Add(id);
                lastWasUnk = false;
                continue;
            }
            if (ByteFallback && TryAddBytes(ch, ids, utf8))
            {
                lastWasUnk = false;
                continue;
            }
            if (UnkId is int unk)
            {
                // fuse_unk collapses a run of unknown chars into one unknown token (word.rs, merge_all callers).
                if (!(FuseUnk && lastWasUnk)) ids.Add(unk);
                lastWasUnk = true;
            }
            // Without an unknown token HF drops the char silently; so do we.
        }
        return ids.Count < 2 || _merges.Count == 0 ? [.. ids] : MergeSymbols(ids);
    }

    private bool TryAddBytes(string ch, List<int> ids, Span<byte> utf8)
    {
        int n = Encoding.UTF8.GetBytes(ch, utf8);
        for (int k = 0; k < n; k++)
            if (_byteFallbackIds[utf8[k]] < 0) return false;
        for (int k = 0; k < n; k++) ids.Add(_byteFallbackIds[utf8[k]]);
        return true;
    }

    private int[] MergeSymbols(List<int> initial)
    {
        int n = initial.Count;
        var id = initial.ToArray();
        var prev = new int[n];
        var next = new int[n];
        var alive = new bool[n];
        for (int i = 0; i < n; i++)
        {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            alive[i] = true;
        }

        // Priority = rank, then position: the lowest rank merges first and, among equal ranks, the leftmost.
        var queue = new PriorityQueue<int, long>();
        for (int i = 0; i + 1 < n; i++)
            if (_merges.TryGetValue(PairKey(id[i], id[i + 1]), out var m)) queue.Enqueue(i, Priority(m.Rank, i));

        while (queue.TryDequeue(out int pos, out long priority))
        {
            int rank = (int)(priority >> 32);
            if (!alive[pos] || next[pos] < 0) continue;
            int right = next[pos];
            // Entries go stale when a neighbour merged; the rank identifies the pair, so re-check it.
            if (!_merges.TryGetValue(PairKey(id[pos], id[right]), out var merge) || merge.Rank != rank) continue;

            id[pos] = merge.NewId;
            alive[right] = false;
            next[pos] = next[right];
            if (next[pos] >= 0) prev[next[pos]] = pos;

            if (prev[pos] >= 0 && _merges.TryGetValue(PairKey(id[prev[pos]], id[pos]), out var left))
                queue.Enqueue(prev[pos], Priority(left.Rank, prev[pos]));
            if (next[pos] >= 0 && _merges.TryGetValue(PairKey(id[pos], id[next[pos]]), out var after))
                queue.Enqueue(pos, Priority(after.Rank, pos));
        }

        var result = new List<int>(n);
        for (int i = 0; i >= 0 && i < n; i = next[i]) result.Add(id[i]);
        return [.. result];
    }

    private static long PairKey(int a, int b) => ((long)a << 32) | (uint)b;

    private static long Priority(int rank, int pos) => ((long)rank << 32) | (uint)pos;
}
