using System.Text.Json.Nodes;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Testing;
using TorchSharp;
using static LoraSqueeze.Testing.AdapterFixture;

namespace LoraSqueeze.Core.Tests.Squeeze;

/// <summary>
/// <c>fan_in_fan_out</c> (GPT-2's Conv1D stores its weight [in, out]): PEFT still stores lora_A [r, in] and lora_B
/// [out, r] and transposes only the merged ΔW (tuners/lora/layer.py, <c>transpose(weight, fan_in_fan_out)</c>), so ΔW
/// [out, in] is s·B·A as usual and only the base weight is read transposed.
/// </summary>
public sealed class FanInFanOutTests : IDisposable
{
    private readonly AdapterFixture _fx = new();

    [Fact]
    public void Conv1DBaseIsCheckedTransposedAndDeltaIsUnchanged()
    {
        using var scope = torch.NewDisposeScope();
        var a = _fx.Randn(3, 10); // [r, in]
        var b = _fx.Randn(14, 3); // [out, r]
        var dir = _fx.WriteAdapter("conv1d", new JsonObject
        {
            ["peft_type"] = "LORA", ["r"] = 3, ["lora_alpha"] = 6, ["fan_in_fan_out"] = true, ["target_modules"] = new JsonArray("c_attn"),
        }, [Key(Peft("h.0.attn.c_attn", "lora_A.weight"), a), Key(Peft("h.0.attn.c_attn", "lora_B.weight"), b)]);
        var conv1d = _fx.WriteModel("gpt2", [Key("h.0.attn.c_attn", _fx.Randn(10, 14))]);   // Conv1D: [in, out]
        var linear = _fx.WriteModel("wrong", [Key("h.0.attn.c_attn", _fx.Randn(14, 10))]);   // nn.Linear layout: does not fit

        var (weights, _) = AdapterSqueezer.LoadAndSqueeze(dir, 3, baseModelDir: conv1d);
        using (weights)
        {
            var m = Assert.Single(weights.Modules);
            Assert.Equal((14L, 10L), (m.OutFeatures, m.InFeatures));
            Assert.True(RelErr(AdapterSqueezer.Dense(m), b.matmul(a).mul(2.0)) < 1e-5);
        }
        var ex = Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(dir, linear));
        Assert.Contains("h.0.attn.c_attn", ex.Message);
    }

    public void Dispose() => _fx.Dispose();
}
