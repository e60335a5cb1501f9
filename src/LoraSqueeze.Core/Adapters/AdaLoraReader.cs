using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// AdaLoRA (Zhang et al. 2023; PEFT tuners/adalora/layer.py <c>SVDLinear.get_delta_weight</c>):
/// ΔW = B·(A ⊙ E)·α/(ranknum + 1e-5), where ranknum stays <c>init_r</c> after pruning. Pruned triplets are sliced
/// out on save, so a module may have rank 0; <c>rank_pattern</c> masks must agree with the kept count.
/// </summary>
internal static class AdaLoraReader
{
    private static readonly string[] Suffixes = ["lora_A", "lora_B", "lora_E"];

    public static List<IModuleDelta> Read(AdapterReadContext ctx)
    {
        var c = ctx.Config;
        // PEFT: scaling = lora_alpha if lora_alpha > 0 else r; divided by ranknum (= init_r) + 1e-5.
        double scale = (c.Alpha > 0 ? c.Alpha : c.R) / (c.InitR + 1e-5);
        // From the header, before any data: lora_A [r, in], lora_B [out, r], lora_E r values, r the tensors' own rank.
        if (ctx.Base is not null)
        {
            foreach (var (module, _) in ctx.GroupModules(Suffixes))
            {
                if (ctx.BaseDelta(module) is not var (o, i) || ctx.HeaderShape(module, "lora_A") is not { Length: 2 } a) continue;
                AdapterReadContext.RequireHeaderShape(module, "lora_A", a, [a[0], i], "[r, in]");
                AdapterReadContext.RequireHeaderShape(module, "lora_B", ctx.HeaderShape(module, "lora_B"), [o, a[0]], "[out, r]");
                if (ctx.HeaderShape(module, "lora_E") is { } e && e.Aggregate(1L, (x, d) => x * d) != a[0])
                    AdapterReadContext.RequireHeaderShape(module, "lora_E", e, [a[0], 1], "[r, 1]");
            }
        }
        var result = new List<IModuleDelta>();
        try
        {
            foreach (var (module, present) in ctx.GroupModules(Suffixes))
            {
                foreach (var s in Suffixes) ctx.Require(module, present, s);
                using var scope = torch.NewDisposeScope();
                var a = ctx.Tensors.Read(module + ".lora_A", module); // [r, in]
                var b = ctx.Tensors.Read(module + ".lora_B", module); // [out, r]
                var e = ctx.Tensors.Read(module + ".lora_E", module); // [r, 1]
                AdapterReadContext.RequireMatrix(module, "lora_A", a);
                AdapterReadContext.RequireMatrix(module, "lora_B", b);
                long r = a.shape[0];
                if (b.shape[1] != r || e.numel() != r)
                    throw new AdapterFormatException($"module {module}: lora_A has {r} rows, lora_B {b.shape[1]} columns and lora_E {e.numel()} values; they must agree");
                if (c.AdaLoraMasks.TryGetValue(module + ".lora_E", out var mask) && mask.Count(x => x) != r)
                    throw new AdapterFormatException($"module {module}: rank_pattern keeps {mask.Count(x => x)} triplets but the tensors have rank {r}");
                result.Add(DeltaFactory.AdaLora(module, a, b, e, scale));
            }
        }
        catch
        {
            foreach (var m in result) m.Dispose();
            throw;
        }
        return result;
    }
}
