using static TorchSharp.torch;

namespace LoraSqueeze.Model.Lora;

/// <summary>
/// Where a training-time adapter attaches in <see cref="CausalLM.ForwardSequence"/>: given a projection, its input x
/// [.., in] and the base output y = x·Wᵀ + b [.., out], returns the adapted output. The hook sees the frozen weight
/// through <see cref="LoraLinear.Weight"/> (DoRA needs it).
/// </summary>
public delegate Tensor ProjectionHook(LoraLinear projection, Tensor x, Tensor y);
