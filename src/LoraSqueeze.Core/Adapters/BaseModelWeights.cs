using LoraSqueeze.Core.Safetensors;
using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// A base (or fine-tuned) Hugging Face checkpoint seen as module weights: <c>{module}.weight</c> in [out, in].
/// Used to check adapter shapes, to rebuild DoRA's ΔW, to size VeRA's projections and to extract deltas.
/// </summary>
public sealed class BaseModelWeights : IDisposable
{
    private readonly ITensorSource _source;

    private BaseModelWeights(ITensorSource source, string dir)
    {
        _source = source;
        Directory = dir;
    }

    public string Directory { get; }

    /// <summary>Opens a model folder (single or sharded safetensors); errors name the folder.</summary>
    public static BaseModelWeights Open(string dir)
    {
        try
        {
            return new BaseModelWeights(SafetensorsCheckpoint.Open(dir), dir);
        }
        catch (Exception ex) when (ex is IOException or SafetensorsFormatException or UnauthorizedAccessException)
        {
            throw new AdapterFormatException($"base model {dir}: {ex.Message}", ex);
        }
    }

    /// <summary>Module paths that have a 2-D <c>.weight</c> (linear layers and embeddings).</summary>
    public IEnumerable<string> MatrixModules =>
        _source.Names.Where(n => n.EndsWith(".weight", StringComparison.Ordinal) && _source.Find(n)!.Shape.Length == 2)
            .Select(n => n[..^".weight".Length]);

    /// <summary>Stored shape of <c>{module}.weight</c>, or null when the module is absent.</summary>
    public long[]? WeightShape(string module) => _source.Find(module + ".weight")?.Shape;

    /// <summary>Reads <c>{module}.weight</c> as float32 [out, in] (transposed from [in, out] when <paramref name="fanInFanOut"/>).</summary>
    public torch.Tensor ReadWeight(string module, bool fanInFanOut = false)
    {
        var name = module + ".weight";
        if (_source.Find(name) is null)
            throw new AdapterFormatException($"module {module}: not in the base model ({Directory} has no tensor '{name}')");
        var t = _source.ReadTensor(name, torch.ScalarType.Float32);
        AdapterTensors.EnsureFinite(t, name, _source.Location, module);
        if (!fanInFanOut) return t;
        var tt = t.T.contiguous(); // [out, in] from Conv1D's [in, out]
        t.Dispose();
        return tt;
    }

    /// <summary>
    /// Checks that <paramref name="module"/> exists and that ΔW [out, in] fits its weight; throws naming the module.
    /// </summary>
    public void CheckFits(string module, long outFeatures, long inFeatures, bool fanInFanOut)
    {
        var shape = WeightShape(module) ??
            throw new AdapterFormatException($"module {module}: not in the base model ({Directory} has no tensor '{module}.weight')");
        if (shape.Length != 2)
            throw new AdapterFormatException($"module {module}: base weight has shape [{string.Join(", ", shape)}], not a matrix");
        long o = fanInFanOut ? shape[1] : shape[0], i = fanInFanOut ? shape[0] : shape[1];
        if (o != outFeatures || i != inFeatures)
            throw new AdapterFormatException($"module {module}: adapter ΔW is [{outFeatures}, {inFeatures}] but the base weight is [{o}, {i}] ([out, in])");
    }

    public void Dispose() => _source.Dispose();
}
