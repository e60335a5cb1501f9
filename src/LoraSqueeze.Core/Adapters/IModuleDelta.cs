using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// One target module's weight update ΔW ([out, in], the nn.Linear convention), exposed without materialising it:
/// exactly factored where the source has a factored form (<see cref="Factors"/>), and always as a linear operator
/// (ΔW·X, ΔWᵀ·Y, and blocks of rows) so the randomized SVD never forms more of ΔW than it needs.
/// All tensors are float32 on CPU; owns them.
/// </summary>
public interface IModuleDelta : IDisposable
{
    /// <summary>HF module path without PEFT's prefix, e.g. <c>model.layers.0.self_attn.q_proj</c>.</summary>
    string ModulePath { get; }

    /// <summary>What the source adapter stored for this module.</summary>
    AdapterKind Kind { get; }

    long OutFeatures { get; }

    long InFeatures { get; }

    /// <summary>
    /// Rank bound from the source: the factor width for factored kinds (r, r1·r2 for LoHa/LoKr), min(out, in) for
    /// dense kinds.
    /// </summary>
    int SourceRank { get; }

    /// <summary>ΔW = P·Q exactly, with P [out, k] and Q [k, in] (scaling folded into P), or null for dense kinds.</summary>
    FactoredDelta? Factors { get; }

    /// <summary>ΔW·X for X [in, k]; returns [out, k] float32.</summary>
    torch.Tensor Apply(torch.Tensor x);

    /// <summary>ΔWᵀ·Y for Y [out, k]; returns [in, k] float32.</summary>
    torch.Tensor ApplyTransposed(torch.Tensor y);

    /// <summary>Rows [start, start+count) of ΔW as a dense [count, in] float32 tensor.</summary>
    torch.Tensor Rows(long start, long count);
}
