using static TorchSharp.torch;

namespace LoraSqueeze.Training.Data;

/// <summary>
/// Deterministic batches over rows: each epoch visits every row once in an order drawn from (seed, epoch) alone, so the
/// whole data state is the pair (<see cref="Epoch"/>, <see cref="Position"/>) and a resumed run replays exactly the
/// batches an uninterrupted run would have seen. Batches run across epoch boundaries.
/// </summary>
public sealed class BatchSampler
{
    private readonly IReadOnlyList<TokenRow> _rows;
    private readonly int _seed;
    private int[] _order;

    public BatchSampler(IReadOnlyList<TokenRow> rows, int batchSize, int seed, int epoch = 0, int position = 0)
    {
        if (rows.Count == 0) throw new ArgumentException("no training rows (is the data shorter than one sequence?)", nameof(rows));
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        _rows = rows;
        _seed = seed;
        BatchSize = batchSize;
        Epoch = epoch;
        Position = position;
        _order = Permutation(rows.Count, seed, epoch);
    }

    public int BatchSize { get; }

    /// <summary>Epochs completed so far.</summary>
    public int Epoch { get; private set; }

    /// <summary>Rows of the current epoch already used.</summary>
    public int Position { get; private set; }

    public int SeqLen => _rows[0].Ids.Length - 1;

    /// <summary>The rows sampled from.</summary>
    public IReadOnlyList<TokenRow> Rows => _rows;

    /// <summary>The next batch as (inputs [B, T] int64, targets [B, T] int64, mask [B, T] float32).</summary>
    public Batch Next()
    {
        var picked = new TokenRow[BatchSize];
        for (int i = 0; i < BatchSize; i++)
        {
            if (Position == _order.Length)
            {
                Epoch++;
                Position = 0;
                _order = Permutation(_rows.Count, _seed, Epoch);
            }
            picked[i] = _rows[_order[Position++]];
        }
        return Batch.From(picked);
    }

    /// <summary>Fisher–Yates with System.Random(seed·1000003 + epoch), whose seeded sequence is stable across .NET versions.</summary>
    internal static int[] Permutation(int n, int seed, int epoch)
    {
        var order = Enumerable.Range(0, n).ToArray();
        var rng = new Random(unchecked(seed * 1000003 + epoch));
        for (int i = n - 1; i > 0; i--)
        {
            int j = rng.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}

/// <summary>A batch of rows as tensors. The caller disposes it (or lets a dispose scope do so).</summary>
public sealed class Batch : IDisposable
{
    private Batch(Tensor inputs, Tensor targets, Tensor mask, long tokens)
    {
        Inputs = inputs;
        Targets = targets;
        Mask = mask;
        Tokens = tokens;
    }

    /// <summary>[B, T] int64.</summary>
    public Tensor Inputs { get; }

    /// <summary>[B, T] int64: the next token of each input position.</summary>
    public Tensor Targets { get; }

    /// <summary>[B, T] float32: 1 where the target counts in the loss.</summary>
    public Tensor Mask { get; }

    /// <summary>Counted targets in this batch.</summary>
    public long Tokens { get; }

    public static Batch From(IReadOnlyList<TokenRow> rows)
    {
        int b = rows.Count, t = rows[0].Ids.Length - 1;
        var inputs = new long[b * t];
        var targets = new long[b * t];
        var mask = new float[b * t];
        long tokens = 0;
        for (int i = 0; i < b; i++)
        {
            var r = rows[i];
            for (int j = 0; j < t; j++)
            {
                inputs[i * t + j] = r.Ids[j];
                targets[i * t + j] = r.Ids[j + 1];
                bool counted = r.LossMask[j + 1];
                mask[i * t + j] = counted ? 1f : 0f;
                if (counted) tokens++;
            }
        }
        return new Batch(
            tensor(inputs).view(b, t),   // [B·T] → [B, T]
            tensor(targets).view(b, t),  // [B·T] → [B, T]
            tensor(mask).view(b, t),     // [B·T] → [B, T]
            tokens);
    }

    public void Dispose()
    {
        Inputs.Dispose();
        Targets.Dispose();
        Mask.Dispose();
    }
}
