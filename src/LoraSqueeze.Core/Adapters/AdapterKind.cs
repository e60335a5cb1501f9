namespace LoraSqueeze.Core.Adapters;

/// <summary>How a module's ΔW is defined in its source adapter (adapter-formats.md §0).</summary>
public enum AdapterKind
{
    /// <summary>PEFT LoRA, ΔW = (α/r)·B·A.</summary>
    Lora,

    /// <summary>PEFT LoRA with <c>use_rslora</c>, ΔW = (α/√r)·B·A.</summary>
    RsLora,

    /// <summary>AdaLoRA, ΔW = (α/(init_r+1e-5))·B·diag(E)·A.</summary>
    AdaLora,

    /// <summary>VeRA, ΔW = diag(λ_b)·B·diag(λ_d)·A with shared random A, B.</summary>
    Vera,

    /// <summary>DoRA, ΔW = diag(m/‖W0+sBA‖_row)(W0+sBA) − W0 (needs the base weight).</summary>
    Dora,

    /// <summary>LoHa, ΔW = (α/r)·(W1a·W1b) ⊙ (W2a·W2b).</summary>
    LoHa,

    /// <summary>LoKr, ΔW = (α/r)·kron(W1, W2).</summary>
    LoKr,

    /// <summary>A full-weight difference, ΔW = W_tuned − W_base.</summary>
    FullDelta,
}
