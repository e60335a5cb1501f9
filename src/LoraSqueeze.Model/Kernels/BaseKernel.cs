namespace LoraSqueeze.Model.Kernels;

/// <summary>How a base projection (and the LM head) computes x·Wᵀ + b.</summary>
public enum BaseKernel
{
    /// <summary>
    /// The default: <see cref="CpuFewRowGemm"/> for float32 CPU steps of at most <see cref="CpuFewRowGemm.MaxRows"/> rows
    /// (decode), libtorch's <c>linear</c> otherwise (prefill, GPU, other dtypes).
    /// </summary>
    FewRows,

    /// <summary>libtorch's <c>linear</c> always: the reference path, and the baseline of <c>bench decode</c>.</summary>
    Libtorch,
}
