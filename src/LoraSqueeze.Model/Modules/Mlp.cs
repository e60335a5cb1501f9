using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Lora;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Modules;

/// <summary>SwiGLU feed-forward (HF <c>LlamaMLP</c>): down(silu(gate(x)) ⊙ up(x)), each projection LoRA-capable.</summary>
public sealed class Mlp : IDisposable
{
    public Mlp(string prefix, ModelConfig config, ModelLoadOptions options, ScalarType dtype, Device device)
    {
        LoraLinear Make(string name, long i, long o) =>
            new($"{prefix}.{name}", i, o, false, options.AdapterSlots, options.SlotRank, options.LoraKernel, dtype, device, options.SlotDType) { BaseKernel = options.BaseKernel };
        GateProj = Make("gate_proj", config.HiddenSize, config.IntermediateSize);
        UpProj = Make("up_proj", config.HiddenSize, config.IntermediateSize);
        DownProj = Make("down_proj", config.IntermediateSize, config.HiddenSize);
    }

    public LoraLinear GateProj { get; }
    public LoraLinear UpProj { get; }
    public LoraLinear DownProj { get; }

    public IEnumerable<LoraLinear> Projections => [GateProj, UpProj, DownProj];

    /// <summary>x: [T, hidden] → [T, hidden].</summary>
    public Tensor Forward(Tensor x, LoraMapping? mapping)
    {
        var gate = nn.functional.silu(GateProj.Forward(x, mapping)); // [T, intermediate]
        var up = UpProj.Forward(x, mapping);                          // [T, intermediate]
        return DownProj.Forward(gate * up, mapping);                  // [T, hidden]
    }

    /// <summary>The training path: x [.., hidden] → [.., hidden], each projection through <paramref name="hook"/>.</summary>
    internal Tensor ForwardSequence(Tensor x, ProjectionHook? hook)
    {
        var gate = nn.functional.silu(GateProj.ForwardTraining(x, hook)); // [.., intermediate]
        var up = UpProj.ForwardTraining(x, hook);                          // [.., intermediate]
        return DownProj.ForwardTraining(gate * up, hook);                  // [.., hidden]
    }

    public void Dispose()
    {
        foreach (var p in Projections) p.Dispose();
    }
}
