using static TorchSharp.torch;

namespace LoraSqueeze.Training.Adapters;

/// <summary>A trainable tensor of an adapter module with its PEFT tensor-name suffix and its optimiser group.</summary>
public sealed record AdapterParameter(string Suffix, Tensor Tensor, ParameterRole Role);

/// <summary>Optimiser groups: LoRA+ scales the rate of <see cref="UpProjection"/> (B) and of vectors.</summary>
public enum ParameterRole
{
    /// <summary>lora_A: the down projection.</summary>
    DownProjection,

    /// <summary>lora_B: the up projection (LoRA+ gives it lr·ratio).</summary>
    UpProjection,

    /// <summary>1-D parameters (DoRA magnitude, VeRA λ): LoRA+ puts them with B.</summary>
    Vector,
}

/// <summary>
/// The adapter of one target projection during training: given the projection's input x [.., in], its frozen base
/// weight W0 [out, in] and the base output y = x·W0ᵀ (+ bias), returns the adapted output.
/// </summary>
public abstract class TrainableModule : IDisposable
{
    protected TrainableModule(string modulePath, long inFeatures, long outFeatures)
    {
        ModulePath = modulePath;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
    }

    /// <summary>HF module path, e.g. <c>model.layers.0.self_attn.q_proj</c>.</summary>
    public string ModulePath { get; }
    public long InFeatures { get; }
    public long OutFeatures { get; }

    /// <summary>x: [.., in], y: [.., out] → [.., out].</summary>
    public abstract Tensor Forward(Tensor x, Tensor baseWeight, Tensor y);

    /// <summary>Trainable tensors (each requires grad).</summary>
    public abstract IEnumerable<AdapterParameter> Parameters();

    /// <summary>Tensors written to adapter_model.safetensors, keyed by suffix after the module path.</summary>
    public abstract IEnumerable<(string Suffix, Tensor Tensor)> SavedTensors(Tensor baseWeight);

    public abstract void Dispose();

    /// <summary>PEFT's default LoRA A init, <c>kaiming_uniform_(a=√5)</c>: U(−1/√in, 1/√in).</summary>
    internal static Tensor KaimingUniformA(long rows, long inFeatures, Generator gen)
    {
        double bound = 1.0 / Math.Sqrt(inFeatures);
        return rand([rows, inFeatures], generator: gen).mul_(2 * bound).sub_(bound); // [r, in]
    }
}
