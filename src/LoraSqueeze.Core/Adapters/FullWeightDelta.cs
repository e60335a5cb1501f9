using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// ΔW = W_tuned − W_base for a full fine-tune (plain, Delta-LoRA, PeriodicLoRA; adapter-formats.md §10). Products
/// are taken as W_tuned·X − W_base·X, so the difference is only formed a block of rows at a time.
/// </summary>
public sealed class FullWeightDelta : IModuleDelta
{
    private readonly torch.Tensor _tuned; // [out, in]
    private readonly torch.Tensor _base;  // [out, in]

    /// <summary>Takes ownership of both float32 [out, in] tensors.</summary>
    public FullWeightDelta(string modulePath, torch.Tensor tuned, torch.Tensor baseWeight)
    {
        if (!tuned.shape.SequenceEqual(baseWeight.shape))
            throw new AdapterFormatException($"module {modulePath}: tuned weight [{string.Join(", ", tuned.shape)}] and base weight [{string.Join(", ", baseWeight.shape)}] differ in shape");
        ModulePath = modulePath;
        _tuned = tuned;
        _base = baseWeight;
        _tuned.DetachFromDisposeScope();
        _base.DetachFromDisposeScope();
    }

    public string ModulePath { get; }

    public AdapterKind Kind => AdapterKind.FullDelta;

    public long OutFeatures => _tuned.shape[0];

    public long InFeatures => _tuned.shape[1];

    public int SourceRank => (int)Math.Min(OutFeatures, InFeatures);

    public FactoredDelta? Factors => null;

    public torch.Tensor Apply(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var xf = x.to_type(torch.ScalarType.Float32);
        return _tuned.matmul(xf).sub_(_base.matmul(xf)).MoveToOuterDisposeScope(); // [out, k]
    }

    public torch.Tensor ApplyTransposed(torch.Tensor y)
    {
        using var scope = torch.NewDisposeScope();
        var yf = y.to_type(torch.ScalarType.Float32);
        return _tuned.T.matmul(yf).sub_(_base.T.matmul(yf)).MoveToOuterDisposeScope(); // [in, k]
    }

    public torch.Tensor Rows(long start, long count) =>
        _tuned.narrow(0, start, count).sub(_base.narrow(0, start, count)); // [count, in]

    public void Dispose()
    {
        _tuned.Dispose();
        _base.Dispose();
    }
}
