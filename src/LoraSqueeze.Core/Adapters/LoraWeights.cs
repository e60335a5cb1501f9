using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// One target module of a standard LoRA with its scaling folded into the factors: ΔW = B·A exactly
/// (A: [rank, in_features], B: [out_features, rank], float32, CPU). <see cref="ModulePath"/> is the Hugging Face module
/// path without PEFT's <c>base_model.model.</c> prefix, e.g. <c>model.layers.3.self_attn.q_proj</c>.
/// </summary>
public sealed record LoraModule(string ModulePath, torch.Tensor A, torch.Tensor B)
{
    /// <summary>Rank of this module (rows of A).</summary>
    public int Rank => (int)A.shape[0];

    /// <summary>Input features (columns of A).</summary>
    public long InFeatures => A.shape[1];

    /// <summary>Output features (rows of B).</summary>
    public long OutFeatures => B.shape[0];
}

/// <summary>
/// A standard LoRA adapter held in memory with scaling folded in (effective scale 1). After a squeeze every module has
/// the same <see cref="Rank"/>, which is what the serving slots require. Owns its tensors.
/// </summary>
public sealed class LoraWeights : IDisposable
{
    public LoraWeights(string name, IReadOnlyList<LoraModule> modules)
    {
        Name = name;
        Modules = modules;
        Rank = modules.Count == 0 ? 0 : modules.Max(m => m.Rank);
    }

    /// <summary>Adapter name (its id or folder name).</summary>
    public string Name { get; }

    /// <summary>Modules in a stable order.</summary>
    public IReadOnlyList<LoraModule> Modules { get; }

    /// <summary>Largest module rank (the uniform rank after a squeeze).</summary>
    public int Rank { get; }

    /// <summary>True when every module has the same rank.</summary>
    public bool IsUniform => Modules.All(m => m.Rank == Rank);

    /// <summary>Bytes held by the factors.</summary>
    public long Bytes => Modules.Sum(m => m.A.numel() * m.A.ElementSize + m.B.numel() * m.B.ElementSize);

    /// <summary>Finds a module by path, or null.</summary>
    public LoraModule? Find(string modulePath) => Modules.FirstOrDefault(m => m.ModulePath == modulePath);

    public void Dispose()
    {
        foreach (var m in Modules)
        {
            m.A.Dispose();
            m.B.Dispose();
        }
    }
}
