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
        GateUp = new ProjectionGroup(GateProj, UpProj);
    }

    public LoraLinear GateProj { get; }
    public LoraLinear UpProj { get; }
    public LoraLinear DownProj { get; }

    public IEnumerable<LoraLinear> Projections => [GateProj, UpProj, DownProj];

    /// <summary>gate and up, which read the same normed rows: one GEMM region for both in a decode step.</summary>
    public ProjectionGroup GateUp { get; }

    /// <summary>
    /// x: [T, hidden] → [T, hidden]. A decode step's few float32 CPU rows take silu(gate) ⊙ up in one pass in place
    /// (<see cref="Kernels.CpuElementwise.SiluMulInPlace"/>; its scalar exp is slower than libtorch's vectorised silu
    /// on a prefill's many rows, which keep the expression).
    /// </summary>
    public unsafe Tensor Forward(Tensor x, LoraMapping? mapping)
    {
        var gateUp = GateUp.Forward(x, mapping);
        var gate = gateUp[0];                                         // [T, intermediate]
        var up = gateUp[1];                                           // [T, intermediate]
        if (x.device_type == TorchSharp.DeviceType.CPU && gate.dtype == ScalarType.Float32 && up.dtype == ScalarType.Float32
            && x.size(0) <= Kernels.CpuFewRowGemm.MaxRows && gate.is_contiguous() && up.is_contiguous() && !gate.requires_grad)
        {
            fixed (byte* pg = gate.bytes, pu = up.bytes)
                Kernels.CpuElementwise.SiluMulInPlace((float*)pg, (float*)pu, gate.numel());
            return DownProj.Forward(gate, mapping);                   // [T, hidden]
        }
        return DownProj.Forward(nn.functional.silu(gate) * up, mapping); // [T, hidden]
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
