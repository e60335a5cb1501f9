using LoraSqueeze.Model.Lora;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Modules;

/// <summary>
/// One chunk of a sequence processed in a step: <paramref name="Tokens"/> at positions StartPosition.. in KV-cache row
/// <paramref name="CacheRow"/>, using the adapter whose (head) slot is <paramref name="AdapterSlot"/> (−1 = base model). A prefill is a
/// chunk starting at 0 (or where the previous prefill chunk stopped); a decode step is a one-token chunk.
/// <paramref name="AllLogits"/>: the forward returns logits for every token of the chunk, not only its last (prompt
/// logprobs, OpenAI's <c>echo</c> with <c>logprobs</c>).
/// </summary>
public sealed record SequenceChunk(int CacheRow, int StartPosition, int[] Tokens, int AdapterSlot, bool AllLogits = false);

/// <summary>
/// Everything a forward pass needs about a packed step, built once and shared by all layers: token ids and positions
/// of the T packed tokens (chunks grouped by adapter slot, base-only first), where each token's K/V goes in the cache,
/// the padded query layout and boolean mask for attention, and the LoRA mapping.
/// </summary>
internal sealed class StepBatch
{
    public required Tensor TokenIds { get; init; }      // [T] int64
    public required Tensor Positions { get; init; }     // [T] int64
    public required Tensor CacheIndex { get; init; }    // [T] int64, row·maxLength + position
    public required Tensor CacheRows { get; init; }     // [S] int64, cache row per chunk (packed order)
    public required Tensor? PadIndex { get; init; }     // [T] int64, chunk·Qmax + j; null when every chunk has Qmax tokens
    public required Tensor Mask { get; init; }          // [S, 1, Qmax, Kmax] bool, key position ≤ query position
    public required Tensor OutputRows { get; init; }    // [R] int64, packed rows whose logits are returned: each chunk's last (all when AllLogits), caller order
    public required LoraMapping Lora { get; init; }
    public required int Chunks { get; init; }           // S
    public required int QueryLength { get; init; }      // Qmax
    public required int KeyLength { get; init; }        // Kmax
    public required int MaxPosition { get; init; }
    public required int[] HostCacheRows { get; init; }  // [S] cache row per chunk (packed order), on the host for CPU kernels
    public required int[] HostKeyLengths { get; init; } // [S] keys each chunk's last token attends to (its position + 1)
    public required long[] HostCacheIndex { get; init; } // [T] CacheIndex on the host, for the CPU cache write
    public Tensor? Cos { get; set; }                    // [T, head_dim]
    public Tensor? Sin { get; set; }                    // [T, head_dim]

    /// <param name="slotsOf">The slot group of a chunk's adapter head slot (<see cref="AdapterSlots.SlotsOf"/>); null: one slot each.</param>
    public static StepBatch Build(IReadOnlyList<SequenceChunk> chunks, int cacheMaxLength, Device device, Func<int, IReadOnlyList<int>>? slotsOf = null)
    {
        if (chunks.Count == 0) throw new ArgumentException("a step needs at least one chunk");
        // Group chunks by adapter slot (stable; base-only first) so every slot's rows are one contiguous segment.
        var order = Enumerable.Range(0, chunks.Count).OrderBy(i => chunks[i].AdapterSlot).ToArray();
        int total = chunks.Sum(c => c.Tokens.Length);
        int qmax = chunks.Max(c => c.Tokens.Length);
        int kmax = chunks.Max(c => c.StartPosition + c.Tokens.Length);
        var ids = new long[total];
        var pos = new long[total];
        var cacheIdx = new long[total];
        var rowSlots = new int[total];
        var pad = new long[total];
        var rows = new long[chunks.Count];
        var hostRows = new int[chunks.Count];
        var hostLengths = new int[chunks.Count];
        var queryPos = new long[chunks.Count * qmax];
        var first = new long[chunks.Count];
        var last = new long[chunks.Count];
        int t = 0;
        for (int s = 0; s < order.Length; s++)
        {
            var c = chunks[order[s]];
            if (c.Tokens.Length == 0) throw new ArgumentException("empty chunk");
            if (c.StartPosition < 0 || c.StartPosition + c.Tokens.Length > cacheMaxLength)
                throw new ArgumentException($"chunk positions {c.StartPosition}..{c.StartPosition + c.Tokens.Length - 1} exceed the cache length {cacheMaxLength}");
            rows[s] = c.CacheRow;
            hostRows[s] = c.CacheRow;
            hostLengths[s] = c.StartPosition + c.Tokens.Length;
            first[order[s]] = t;
            for (int j = 0; j < qmax; j++)
            {
                // Padded query slots attend to the chunk's first position (always written) so no softmax row is empty.
                queryPos[s * qmax + j] = c.StartPosition + Math.Min(j, c.Tokens.Length - 1);
            }
            for (int j = 0; j < c.Tokens.Length; j++, t++)
            {
                ids[t] = c.Tokens[j];
                pos[t] = c.StartPosition + j;
                cacheIdx[t] = (long)c.CacheRow * cacheMaxLength + c.StartPosition + j;
                rowSlots[t] = c.AdapterSlot < 0 ? -1 : c.AdapterSlot;
                pad[t] = (long)s * qmax + j;
            }
            last[order[s]] = t - 1;
        }
        var outputs = new List<long>(chunks.Count);
        for (int i = 0; i < chunks.Count; i++)
        {
            for (long r = chunks[i].AllLogits ? first[i] : last[i]; r <= last[i]; r++) outputs.Add(r);
        }
        bool padded = total != chunks.Count * qmax;
        var keyPos = arange(kmax, dtype: ScalarType.Int64, device: device).view(1, 1, 1, kmax);          // [1, 1, 1, Kmax]
        var qPos = tensor(queryPos, device: device).view(chunks.Count, 1, qmax, 1);                        // [S, 1, Qmax, 1]
        return new StepBatch
        {
            TokenIds = tensor(ids, device: device),
            Positions = tensor(pos, device: device),
            CacheIndex = tensor(cacheIdx, device: device),
            CacheRows = tensor(rows, device: device),
            HostCacheRows = hostRows,
            HostKeyLengths = hostLengths,
            HostCacheIndex = cacheIdx,
            PadIndex = padded ? tensor(pad, device: device) : null,
            Mask = keyPos.le(qPos),                                                                        // [S, 1, Qmax, Kmax]
            OutputRows = tensor(outputs.ToArray(), device: device),
            Lora = LoraMapping.FromGroupedRows(rowSlots, device, slotsOf),
            Chunks = chunks.Count,
            QueryLength = qmax,
            KeyLength = kmax,
            MaxPosition = (int)pos.Max(),
        };
    }
}
