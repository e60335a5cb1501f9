using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// PEFT <c>peft_type: LORA</c>: plain LoRA, rsLoRA and DoRA (PEFT tuners/lora/layer.py, dora.py). Ranks come from
/// tensor shapes and must agree with <c>r</c>/<c>rank_pattern</c>; alpha from <c>alpha_pattern</c>.
/// </summary>
internal static class LoraFamilyReader
{
    private static readonly string[] Suffixes = ["lora_A.weight", "lora_B.weight", "lora_magnitude_vector", "lora_magnitude_vector.weight"];

    public static (AdapterKind, List<IModuleDelta>) Read(AdapterReadContext ctx)
    {
        var c = ctx.Config;
        var kind = c.UseDora ? AdapterKind.Dora : c.UseRslora ? AdapterKind.RsLora : AdapterKind.Lora;
        if (c.UseDora && ctx.Base is null)
            throw new AdapterFormatException($"{ctx.Tensors.Location}: DoRA (use_dora) rescales the base weight's rows, so its ΔW needs the base model: pass --base MODEL_DIR");
        // Every module's shapes from the header against the base, before any tensor's data is read.
        if (ctx.Base is not null)
        {
            foreach (var (module, present) in ctx.GroupModules(Suffixes)) CheckHeaderShapes(ctx, module, present);
        }
        var result = new List<IModuleDelta>();
        try
        {
            foreach (var (module, present) in ctx.GroupModules(Suffixes))
                result.Add(ReadModule(ctx, module, present, kind));
        }
        catch
        {
            foreach (var m in result) m.Dispose();
            throw;
        }
        return (kind, result);
    }

    /// <summary>
    /// From the safetensors header alone: lora_A is [r, in] and lora_B [out, r] of this module of the base (transposed
    /// with fan_in_fan_out), r is the config's rank, a DoRA magnitude has out entries. A file that claims other shapes
    /// is refused naming the module and tensor, before its data costs any reading (the same checks run again on the
    /// tensors read, for sources without a header).
    /// </summary>
    private static void CheckHeaderShapes(AdapterReadContext ctx, string module, HashSet<string> present)
    {
        var c = ctx.Config;
        if (ctx.Base!.WeightShape(module) is not { Length: 2 } w)
        {
            ctx.Base.CheckFits(module, 0, 0, c.FanInFanOut);   // throws: not in the base, or not a matrix
            return;
        }
        long outF = c.FanInFanOut ? w[1] : w[0], inF = c.FanInFanOut ? w[0] : w[1];
        var a = present.Contains("lora_A.weight") ? ctx.Tensors.Shape(module + ".lora_A.weight") : null;
        var b = present.Contains("lora_B.weight") ? ctx.Tensors.Shape(module + ".lora_B.weight") : null;
        if (a is null || b is null) return;   // a missing factor is reported by ReadModule's Require, with its name
        string Claim(long[] s) => "[" + string.Join(", ", s) + "]";
        int rank = c.RankFor(module);
        if (a.Length != 2 || a[1] != inF || a[0] != rank)
            throw new AdapterFormatException($"module {module}: tensor '{module}.lora_A.weight' claims shape {Claim(a)}, but the base weight is [{outF}, {inF}] ([out, in]) and the config's rank {rank}, so it must be [{rank}, {inF}] ([r, in]); refused before reading it");
        if (b.Length != 2 || b[0] != outF || b[1] != rank)
            throw new AdapterFormatException($"module {module}: tensor '{module}.lora_B.weight' claims shape {Claim(b)}, but the base weight is [{outF}, {inF}] ([out, in]) and the config's rank {rank}, so it must be [{outF}, {rank}] ([out, r]); refused before reading it");
        foreach (var name in (string[])["lora_magnitude_vector", "lora_magnitude_vector.weight"])
        {
            if (!present.Contains(name) || ctx.Tensors.Shape($"{module}.{name}") is not { } m) continue;
            if (m.Aggregate(1L, (x, d) => x * d) != outF)
                throw new AdapterFormatException($"module {module}: tensor '{module}.{name}' claims shape {Claim(m)}; the base's module has {outF} output rows; refused before reading it");
        }
    }

    private static IModuleDelta ReadModule(AdapterReadContext ctx, string module, HashSet<string> present, AdapterKind kind)
    {
        var c = ctx.Config;
        ctx.Require(module, present, "lora_A.weight");
        ctx.Require(module, present, "lora_B.weight");
        bool hasMagnitude = present.Contains("lora_magnitude_vector") || present.Contains("lora_magnitude_vector.weight");
        if (hasMagnitude != c.UseDora)
            throw new AdapterFormatException(c.UseDora
                ? $"module {module}: use_dora is true but tensor '{module}.lora_magnitude_vector' is missing from {ctx.Tensors.Location}"
                : $"module {module}: tensor '{module}.lora_magnitude_vector' is present but the config does not set use_dora");
        using var scope = torch.NewDisposeScope();
        var a = ctx.Tensors.Read(module + ".lora_A.weight", module); // [r, in]
        var b = ctx.Tensors.Read(module + ".lora_B.weight", module); // [out, r]
        AdapterReadContext.RequireMatrix(module, "lora_A.weight", a);
        AdapterReadContext.RequireMatrix(module, "lora_B.weight", b);
        int r = (int)a.shape[0];
        if (b.shape[1] != r)
            throw new AdapterFormatException($"module {module}: lora_A has {r} rows but lora_B has {b.shape[1]} columns");
        if (r == 0)
            throw new AdapterFormatException($"module {module}: rank 0 (lora_A.weight has no rows), so the module carries no update; drop it from target_modules");
        int configRank = c.RankFor(module);
        if (configRank != r)
            throw new AdapterFormatException($"module {module}: the config says rank {configRank} (r / rank_pattern) but lora_A.weight has {r} rows; the scaling α/r would be wrong");
        double alpha = c.AlphaFor(module);
        double scale = r == 0 ? 0 : c.UseRslora ? alpha / Math.Sqrt(r) : alpha / r;
        if (kind != AdapterKind.Dora)
        {
            // Same ΔW as DeltaFactory.Lora (s·B·A), but the scale is folded into the B just read, in place, and both
            // tensors are handed over: the read stays one pass over the file with no copy of the adapter.
            b.mul_(scale);
            return new FactoredDelta(module, kind, b.DetachFromDisposeScope(), a.DetachFromDisposeScope()); // P = s·B [out, r], Q = A [r, in]
        }

        var magName = present.Contains("lora_magnitude_vector") ? "lora_magnitude_vector" : "lora_magnitude_vector.weight";
        var m = ctx.Tensors.Read($"{module}.{magName}", module).reshape(-1); // [out]
        if (m.shape[0] != b.shape[0])
            throw new AdapterFormatException($"module {module}: lora_magnitude_vector has {m.shape[0]} entries but lora_B has {b.shape[0]} rows");
        ctx.Base!.CheckFits(module, b.shape[0], a.shape[1], c.FanInFanOut);
        var w0 = ctx.Base.ReadWeight(module, c.FanInFanOut); // [out, in]
        var sB = b.mul(scale);                                // [out, r]
        var delta = new DoraDelta(module, w0.MoveToOuterDisposeScope(), sB.MoveToOuterDisposeScope(), a.MoveToOuterDisposeScope(), m.MoveToOuterDisposeScope());
        return delta;
    }
}
