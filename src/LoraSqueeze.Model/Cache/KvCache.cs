using LoraSqueeze.Model.Config;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Cache;

/// <summary>
/// Preallocated key/value cache owned by the engine (not by the model): per layer one K and one V tensor of shape
/// [rows, maxLength, kvHeads, headDim]. A sequence owns one row for its lifetime; a step writes its new keys and values
/// in place with <c>index_copy_</c> at flat index row·maxLength + position. Memory is fixed at construction, as a GPU
/// budget needs (libtorch's caching allocator never gives memory back; docs/model-runtime.md).
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly Tensor[] _keys;
    private readonly Tensor[] _values;

    public KvCache(ModelConfig config, int rows, int maxLength, ScalarType dtype, Device device)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(rows, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxLength, 1);
        Rows = rows;
        MaxLength = maxLength;
        _keys = new Tensor[config.NumHiddenLayers];
        _values = new Tensor[config.NumHiddenLayers];
        // Created under inference mode because every write happens under it (RFC-0011: inference tensors may only be
        // updated in place inside inference mode).
        using var mode = inference_mode();
        for (int l = 0; l < config.NumHiddenLayers; l++)
        {
            _keys[l] = zeros([rows, maxLength, config.NumKvHeads, config.HeadDim], dtype: dtype, device: device).DetachFromDisposeScope();
            _values[l] = zeros([rows, maxLength, config.NumKvHeads, config.HeadDim], dtype: dtype, device: device).DetachFromDisposeScope();
        }
    }

    /// <summary>Sequence rows.</summary>
    public int Rows { get; }

    /// <summary>Positions per row.</summary>
    public int MaxLength { get; }

    /// <summary>Bytes held.</summary>
    public long Bytes => _keys.Sum(k => k.numel() * k.ElementSize) * 2;

    /// <summary>Layer l's keys, [rows, maxLength, kvHeads, headDim].</summary>
    public Tensor Keys(int layer) => _keys[layer];

    /// <summary>Layer l's values, [rows, maxLength, kvHeads, headDim].</summary>
    public Tensor Values(int layer) => _values[layer];

    /// <summary>
    /// Zeroes one row in every layer before a new sequence takes it. Attention reads a row up to the longest chunk of
    /// the step, past this sequence's own length; the mask gives those positions weight 0, but 0 · NaN is NaN, so a
    /// NaN or ±Inf left by an earlier occupant (an adapter with overflowing weights) would poison every later sequence
    /// on the row. Zeroed, the row holds nothing of anyone else's.
    /// </summary>
    public void ClearRow(int row)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(row);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(row, Rows);
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        for (int l = 0; l < _keys.Length; l++)
        {
            _keys[l][row].zero_();                                                   // [maxLength, kvHeads, headDim]
            _values[l][row].zero_();
        }
    }

    public void Dispose()
    {
        foreach (var t in _keys) t.Dispose();
        foreach (var t in _values) t.Dispose();
    }
}
