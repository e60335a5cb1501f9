using static TorchSharp.torch;

namespace LoraSqueeze.Training.Tests;

internal static class TensorAssert
{
    /// <summary>Same shape and every element bit-equal.</summary>
    public static bool Identical(Tensor a, Tensor b)
    {
        using var scope = NewDisposeScope();
        return a.shape.SequenceEqual(b.shape) && a.eq(b).all().item<bool>();
    }
}
