using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// DoRA (Liu et al. 2024, arXiv 2402.09353; PEFT tuners/lora/dora.py): the merged weight is
/// W' = diag(d)·(W0 + s·B·A) with d = m ./ rownorm(W0 + s·B·A), so
/// ΔW = diag(d − 1)·W0 + diag(d)·s·B·A. The first term is a row-scaled copy of W0, full rank in general, so DoRA
/// has no exact low-rank form: it is squeezed by randomized SVD through <see cref="Apply"/>, which costs one W0
/// product per probe and never forms ΔW.
/// </summary>
public sealed class DoraDelta : IModuleDelta
{
    private const long RowBlock = 1024;
    private readonly torch.Tensor _w0;    // [out, in]
    private readonly torch.Tensor _sB;    // [out, r], scale folded
    private readonly torch.Tensor _a;     // [r, in]
    private readonly torch.Tensor _d;     // [out, 1]
    private readonly torch.Tensor _dm1;   // [out, 1], d − 1

    /// <summary>Takes ownership of the tensors. <paramref name="w0"/> is the base weight in [out, in].</summary>
    public DoraDelta(string modulePath, torch.Tensor w0, torch.Tensor scaledB, torch.Tensor a, torch.Tensor magnitude)
    {
        ModulePath = modulePath;
        _w0 = w0;
        _sB = scaledB;
        _a = a;
        using var scope = torch.NewDisposeScope();
        // Row norms of W0 + sBA, a block of rows at a time so the dense sum is never held whole.
        var norms = torch.empty(w0.shape[0], dtype: torch.ScalarType.Float32);
        for (long s = 0; s < w0.shape[0]; s += RowBlock)
        {
            long n = Math.Min(RowBlock, w0.shape[0] - s);
            var rows = w0.narrow(0, s, n).add(scaledB.narrow(0, s, n).matmul(a)); // [n, in]
            norms.narrow(0, s, n).copy_(torch.linalg.vector_norm(rows, dims: [1]));
        }
        _d = magnitude.to_type(torch.ScalarType.Float32).div(norms).unsqueeze(1).MoveToOuterDisposeScope(); // [out, 1]
        _dm1 = _d.sub(1.0).MoveToOuterDisposeScope();
        magnitude.Dispose();
        // This object owns its tensors, whatever dispose scope the caller built them in.
        foreach (var t in new[] { _w0, _sB, _a, _d, _dm1 }) t.DetachFromDisposeScope();
    }

    public string ModulePath { get; }

    public AdapterKind Kind => AdapterKind.Dora;

    public long OutFeatures => _w0.shape[0];

    public long InFeatures => _w0.shape[1];

    public int SourceRank => (int)Math.Min(OutFeatures, InFeatures);

    public FactoredDelta? Factors => null;

    public torch.Tensor Apply(torch.Tensor x)
    {
        using var scope = torch.NewDisposeScope();
        var xf = x.to_type(torch.ScalarType.Float32);
        var y = _dm1.mul(_w0.matmul(xf)).add_(_d.mul(_sB.matmul(_a.matmul(xf)))); // [out, k]
        return y.MoveToOuterDisposeScope();
    }

    public torch.Tensor ApplyTransposed(torch.Tensor y)
    {
        using var scope = torch.NewDisposeScope();
        var yf = y.to_type(torch.ScalarType.Float32);
        var x = _w0.T.matmul(_dm1.mul(yf)).add_(_a.T.matmul(_sB.T.matmul(_d.mul(yf)))); // [in, k]
        return x.MoveToOuterDisposeScope();
    }

    public torch.Tensor Rows(long start, long count)
    {
        using var scope = torch.NewDisposeScope();
        var rows = _dm1.narrow(0, start, count).mul(_w0.narrow(0, start, count))
            .add_(_d.narrow(0, start, count).mul(_sB.narrow(0, start, count).matmul(_a))); // [count, in]
        return rows.MoveToOuterDisposeScope();
    }

    public void Dispose()
    {
        _w0.Dispose();
        _sB.Dispose();
        _a.Dispose();
        _d.Dispose();
        _dm1.Dispose();
    }
}
