namespace LoraSqueeze.Model;

/// <summary>How adapter slots are laid out in every target projection.</summary>
public enum LoraLayout
{
    /// <summary>Every slot has exactly the uniform rank r (LoraSqueeze's squeezed adapters): no padding.</summary>
    Uniform,

    /// <summary>Slots padded to <see cref="ModelLoadOptions.PaddedMaxRank"/> (what vLLM and SGLang do): adapters of any
    /// rank up to it are installed in the leading rows, the rest stays zero and is still computed. For benchmarks.</summary>
    Padded,
}

/// <summary>How the batched LoRA term is computed (see docs/model-runtime.md for measurements).</summary>
public enum LoraKernel
{
    /// <summary>Rows grouped by slot; one shrink and one expand matmul per distinct adapter (SGMV idea, no gather).</summary>
    Segmented,

    /// <summary>Per-row gather of A and B followed by bmm (vLLM's torch-ops BGMV reference). Copies weights per row.</summary>
    Gathered,

    /// <summary>
    /// The default. On a CPU with float32 slots, rows of short segments (decode) go through <see cref="Lora.CpuLoraKernel"/>
    /// (BGMV read in place: no copies, one call per projection), long segments (prefill) through <see cref="Segmented"/>.
    /// Elsewhere (a GPU, other dtypes) it is <see cref="Gathered"/>.
    /// </summary>
    Bgmv,
}

/// <summary>Options for <see cref="CausalLM.Load"/>.</summary>
public sealed record ModelLoadOptions
{
    /// <summary>Uniform adapter rank r of every slot (the squeeze target). 0 with <see cref="AdapterSlots"/> 0 disables LoRA.</summary>
    public int AdapterRank { get; init; } = 16;

    /// <summary>Number of device adapter slots per target projection.</summary>
    public int AdapterSlots { get; init; } = 8;

    /// <summary>Slot layout: uniform rank (default) or padded to <see cref="PaddedMaxRank"/>.</summary>
    public LoraLayout LoraLayout { get; init; } = LoraLayout.Uniform;

    /// <summary>Slot rank for <see cref="LoraLayout.Padded"/>.</summary>
    public int PaddedMaxRank { get; init; } = 128;

    /// <summary>How the LoRA term is computed.</summary>
    public LoraKernel LoraKernel { get; init; } = LoraKernel.Bgmv;

    /// <summary>How the base projections and the LM head compute x·Wᵀ + b (<see cref="Kernels.BaseKernel"/>).</summary>
    public Kernels.BaseKernel BaseKernel { get; init; } = Kernels.BaseKernel.FewRows;

    /// <summary>
    /// Threads the project's CPU kernels (few-row GEMM, BGMV LoRA, in-place attention) split a decode step over; null =
    /// libtorch's intra-op thread count when the model is loaded (<c>serve --threads</c>).
    /// </summary>
    public int? KernelThreads { get; init; }

    /// <summary>
    /// Run libtorch single-threaded during CPU decode steps (<see cref="LoraSqueeze.Core.Torch.TorchThreading.OneOpenMpThread"/>),
    /// so its idle OpenMP workers do not spin on the cores the kernels use. Prefill keeps libtorch's threads.
    /// </summary>
    public bool SingleThreadedTorchInDecode { get; init; } = true;

    /// <summary>How attention reads the KV cache (<see cref="Kernels.AttentionKernel"/>; in place for CPU decode by default).</summary>
    public Kernels.AttentionKernel AttentionKernel { get; init; } = Kernels.AttentionKernel.InPlace;

    /// <summary>
    /// Storage dtype of the adapter slots; null = the compute dtype. <c>BFloat16</c> halves slot memory and the bytes a
    /// decode step reads for its adapters; <c>Int8</c> quarters them (symmetric per-row scales, one float32 per rank row
    /// of A and of Bᵀ). The LoRA term is still accumulated in the compute dtype; the factors are rounded once, when
    /// installed.
    /// </summary>
    public TorchSharp.torch.ScalarType? SlotDType { get; init; }

    /// <summary>
    /// Storage dtype of the base projections and the LM head; null = the compute dtype. <c>BFloat16</c> halves the
    /// bytes a decode step reads, <c>Int8</c> (symmetric, one float32 scale per output row) quarters them; the step
    /// still computes in float32 (the few-row kernel widens the weights in registers). CPU with float32 compute only.
    /// The embedding stays dense.
    /// </summary>
    public TorchSharp.torch.ScalarType? WeightDType { get; init; }

    /// <summary>
    /// With <see cref="WeightDType"/> int8: quantise a decode step's activation rows to int8 in blocks of 32 and multiply
    /// int8 × int8 (<see cref="Kernels.CpuInt8DotGemm"/>, llama.cpp's Q8_0 scheme) instead of widening the weights to
    /// float32 against float32 rows. Faster on a CPU where the widening is the bottleneck; costs a little accuracy
    /// (<c>lorasqueeze eval-weights</c> measures it). Prefill still multiplies float32. Refused without int8 weights.
    /// </summary>
    public bool Int8Activations { get; init; }

    /// <summary>
    /// Move the base weights, the LM head and the adapter slots onto 2 MiB transparent huge pages after loading
    /// (<see cref="Core.Torch.HugePages"/>; Linux, CPU; a no-op where the kernel refuses). A decode step streams every
    /// weight once, and on 4 KiB pages it reads them a few per cent slower.
    /// </summary>
    public bool HugePages { get; init; } = true;

    /// <summary>Compute dtype override; null = float32 on CPU, the stored dtype (config torch_dtype) on a GPU.</summary>
    public TorchSharp.torch.ScalarType? ComputeDType { get; init; }

    /// <summary>
    /// Build the model for training (<c>lorasqueeze train</c>/<c>pretrain</c>): weights are ordinary tensors made outside
    /// inference mode, so autograd can record through them in <see cref="CausalLM.ForwardSequence"/> (PyTorch refuses to
    /// save inference tensors for backward). Serving leaves this false.
    /// </summary>
    public bool ForTraining { get; init; }

    /// <summary>The rank every slot holds (r for uniform, the padded maximum otherwise).</summary>
    public int SlotRank => LoraLayout == LoraLayout.Padded ? PaddedMaxRank : AdapterRank;
}
