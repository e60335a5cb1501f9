using static TorchSharp.torch;

namespace LoraSqueeze.Model.Lora;

/// <summary>
/// Projections that read the same input: a layer's q/k/v, its MLP's gate/up. Their base products run as one GEMM
/// region (<see cref="Kernels.BaseLinear.ForwardGroup"/>: one fork/join over all their output rows instead of one per
/// projection, and w8a8 quantises x once), then each adds its own LoRA term. This is what vLLM's fused
/// <c>QKVParallelLinear</c>/<c>MergedColumnParallelLinear</c> buy, without concatenating the weights: each projection
/// keeps its own tensor, so loading, packing, adapter slots and export stay per projection.
/// <see cref="LoraLinear.Forward"/> per projection is the reference (<see cref="Fused"/> false).
/// </summary>
public sealed class ProjectionGroup
{
    private readonly LoraLinear[] _members;
    private readonly Kernels.PackedWeight[] _weights;
    private readonly Tensor?[] _biases;
    private readonly Tensor[] _outputs;

    public ProjectionGroup(params LoraLinear[] members)
    {
        if (members.Length == 0) throw new ArgumentException("a projection group needs members", nameof(members));
        foreach (var m in members)
            if (m.InFeatures != members[0].InFeatures)
                throw new ArgumentException($"{m.Path} reads {m.InFeatures} inputs, {members[0].Path} {members[0].InFeatures}: a group shares its input");
        _members = members;
        _weights = new Kernels.PackedWeight[members.Length];
        _biases = new Tensor?[members.Length];
        _outputs = new Tensor[members.Length];
    }

    /// <summary>One region for the group's base products (the default), or each projection on its own; switchable between steps.</summary>
    public bool Fused { get; set; } = true;

    /// <summary>
    /// x: [T, in] → one [T, out_i] per member, in member order. The returned array is the group's own and is overwritten
    /// by the next call: read the outputs out of it at once.
    /// </summary>
    public IReadOnlyList<Tensor> Forward(Tensor x, LoraMapping? mapping)
    {
        var first = _members[0];
        bool uniform = Fused;
        for (int i = 1; i < _members.Length && uniform; i++)
        {
            var m = _members[i];
            uniform = m.BaseKernel == first.BaseKernel && m.Threads == first.Threads && m.Int8Activations == first.Int8Activations;
        }
        if (!uniform)
        {
            for (int i = 0; i < _members.Length; i++) _outputs[i] = _members[i].Forward(x, mapping);
            return _outputs;
        }
        for (int i = 0; i < _members.Length; i++)
        {
            _weights[i] = _members[i].Base;   // read each time: packing replaces a projection's weight after loading
            _biases[i] = _members[i].Bias;
        }
        Kernels.BaseLinear.ForwardGroup(x, _weights, _biases, first.BaseKernel, first.Threads, first.Int8Activations, _outputs);
        for (int i = 0; i < _members.Length; i++) _members[i].AddLora(x, _outputs[i], mapping);
        return _outputs;
    }
}
