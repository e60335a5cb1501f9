using LoraSqueeze.Core.Safetensors;
using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// An adapter's tensors under normalised names (<see cref="AdapterKeys.Normalize"/>), read as float32 and checked
/// for NaN/Inf so every later error can name the tensor and the file.
/// </summary>
public sealed class AdapterTensors : IDisposable
{
    private readonly ITensorSource _source;
    private readonly Dictionary<string, string> _byNormalized = new(StringComparer.Ordinal);

    public AdapterTensors(ITensorSource source)
    {
        _source = source;
        foreach (var name in source.Names)
        {
            var norm = AdapterKeys.Normalize(name);
            if (!_byNormalized.TryAdd(norm, name))
                throw new AdapterFormatException($"{source.Location}: tensors '{_byNormalized[norm]}' and '{name}' both normalise to '{norm}'");
        }
    }

    /// <summary>The file (or index) the tensors come from.</summary>
    public string Location => _source.Location;

    /// <summary>Normalised names.</summary>
    public IReadOnlyCollection<string> Names => _byNormalized.Keys;

    public bool Has(string normalizedName) => _byNormalized.ContainsKey(normalizedName);

    /// <summary>Bytes the header says all tensors hold (nothing read).</summary>
    public long ClaimedBytes => _byNormalized.Values.Sum(raw => _source.Find(raw) is { } info ? info.End - info.Begin : 0);

    /// <summary>The stored shape of a tensor, or null.</summary>
    public long[]? Shape(string normalizedName) =>
        _byNormalized.TryGetValue(normalizedName, out var raw) ? _source.Find(raw)?.Shape : null;

    /// <summary>Reads a tensor as float32; fails naming the tensor when it is missing or holds NaN/Inf.</summary>
    public torch.Tensor Read(string normalizedName, string module)
    {
        if (!_byNormalized.TryGetValue(normalizedName, out var raw))
            throw new AdapterFormatException($"module {module}: tensor '{normalizedName}' is missing from {Location}");
        // Weights are floats: an integer tensor read "as float" is either a conversion nobody meant or bytes that were
        // never weights; either way its values are not an adapter's.
        if (_source.Find(raw) is { DType: var stored } && stored is not (SafetensorsDType.F16 or SafetensorsDType.BF16 or SafetensorsDType.F32 or SafetensorsDType.F64))
            throw new AdapterFormatException($"module {module}: tensor '{raw}' in {Location} is {stored}; adapter weights must be F16, BF16, F32 or F64");
        torch.Tensor t;
        try
        {
            t = _source.ReadTensor(raw, torch.ScalarType.Float32);
        }
        catch (SafetensorsFormatException ex)
        {
            throw new AdapterFormatException($"module {module}: tensor '{raw}' in {Location} cannot be read: {ex.Message}", ex);
        }
        EnsureFinite(t, raw, Location, module);
        return t;
    }

    /// <summary>Throws naming the tensor when <paramref name="t"/> holds NaN or ±Inf.</summary>
    public static void EnsureFinite(torch.Tensor t, string tensorName, string location, string module)
    {
        if (t.numel() == 0 || FiniteScan.AllFinite(t) == true) return;
        using var scope = torch.NewDisposeScope();
        if (!torch.isfinite(t).all().item<bool>())
        {
            long nan = torch.isnan(t).sum().item<long>();
            long inf = torch.isinf(t).sum().item<long>();
            throw new AdapterFormatException($"module {module}: tensor '{tensorName}' in {location} holds {nan} NaN and {inf} Inf value(s)");
        }
    }

    public void Dispose() => _source.Dispose();
}
