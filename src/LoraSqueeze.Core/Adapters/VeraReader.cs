using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// VeRA (Kopiczko et al. 2024, arXiv 2310.11454; PEFT tuners/vera): per module λ_b [out], λ_d [r]; shared
/// vera_A [r, max_in], vera_B [max_out, r], saved or regenerated from <c>projection_prng_key</c>
/// (<see cref="VeraProjections"/>). VeRA stores no per-module input size, so the base model is required; max_in and
/// max_out are the maxima over the adapter's modules (PEFT takes them over the targeted layers, the same set).
/// </summary>
internal static class VeraReader
{
    private static readonly string[] Suffixes = ["vera_lambda_b", "vera_lambda_d"];

    public static List<IModuleDelta> Read(AdapterReadContext ctx)
    {
        var c = ctx.Config;
        var baseModel = ctx.Base ?? throw new AdapterFormatException(
            $"{ctx.Tensors.Location}: VeRA stores no per-module input size (and may need its projections regenerated), so it needs the base model: pass --base MODEL_DIR");
        static bool IsShared(string n) => n is "base_model.vera_A" or "base_model.vera_B" or "vera_A" or "vera_B";
        var modules = ctx.GroupModules(Suffixes, IsShared);
        var dims = new Dictionary<string, (long Out, long In)>();
        foreach (var module in modules.Keys)
        {
            var shape = baseModel.WeightShape(module) ??
                throw new AdapterFormatException($"module {module}: not in the base model ({baseModel.Directory} has no tensor '{module}.weight')");
            dims[module] = c.FanInFanOut ? (shape[1], shape[0]) : (shape[0], shape[1]);
        }
        long maxOut = dims.Values.Max(d => d.Out), maxIn = dims.Values.Max(d => d.In);
        // From the header, before any data: each module's λ_b has its out entries and λ_d r entries.
        foreach (var (module, _) in modules)
        {
            long count(long[] s) => s.Aggregate(1L, (x, d) => x * d);
            if (ctx.HeaderShape(module, "vera_lambda_b") is { } lb && count(lb) != dims[module].Out)
                AdapterReadContext.RequireHeaderShape(module, "vera_lambda_b", lb, [dims[module].Out], "[out]");
            if (ctx.HeaderShape(module, "vera_lambda_d") is { } ld && count(ld) != c.R)
                AdapterReadContext.RequireHeaderShape(module, "vera_lambda_d", ld, [c.R], "[r]");
        }

        using var outer = torch.NewDisposeScope();
        torch.Tensor veraA, veraB;
        string? aName = ctx.Tensors.Names.FirstOrDefault(n => n.EndsWith("vera_A", StringComparison.Ordinal) && IsShared(n));
        string? bName = ctx.Tensors.Names.FirstOrDefault(n => n.EndsWith("vera_B", StringComparison.Ordinal) && IsShared(n));
        if (aName is not null && bName is not null)
        {
            veraA = ctx.Tensors.Read(aName, "vera_A"); // [r, max_in]
            veraB = ctx.Tensors.Read(bName, "vera_B"); // [max_out, r]
        }
        else if (!c.SaveProjection)
        {
            (veraA, veraB) = VeraProjections.Generate(c.ProjectionPrngKey, c.R, maxIn, maxOut);
        }
        else
        {
            throw new AdapterFormatException($"{ctx.Tensors.Location}: save_projection is true but the shared tensors vera_A/vera_B are missing");
        }
        if (veraA.shape[0] != c.R || veraB.shape[1] != c.R)
            throw new AdapterFormatException($"{ctx.Tensors.Location}: config r={c.R} but vera_A is [{string.Join(", ", veraA.shape)}] and vera_B [{string.Join(", ", veraB.shape)}]");

        var result = new List<IModuleDelta>();
        try
        {
            foreach (var (module, present) in modules)
            {
                foreach (var s in Suffixes) ctx.Require(module, present, s);
                using var scope = torch.NewDisposeScope();
                var lb = ctx.Tensors.Read(module + ".vera_lambda_b", module).reshape(-1); // [out]
                var ld = ctx.Tensors.Read(module + ".vera_lambda_d", module).reshape(-1); // [r]
                var (o, i) = dims[module];
                if (lb.shape[0] != o)
                    throw new AdapterFormatException($"module {module}: vera_lambda_b has {lb.shape[0]} entries but the base weight has {o} outputs");
                if (ld.shape[0] != c.R)
                    throw new AdapterFormatException($"module {module}: vera_lambda_d has {ld.shape[0]} entries but the config says r={c.R}");
                if (veraA.shape[1] < i || veraB.shape[0] < o)
                    throw new AdapterFormatException($"module {module}: shared projections vera_A [{string.Join(", ", veraA.shape)}] / vera_B [{string.Join(", ", veraB.shape)}] are smaller than the module [{o}, {i}]");
                result.Add(DeltaFactory.Vera(module, veraA, veraB, lb, ld, o, i));
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
