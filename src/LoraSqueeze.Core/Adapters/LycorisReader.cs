using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// LoHa and LoKr, PEFT's LyCORIS ports (PEFT tuners/loha/layer.py, tuners/lokr/layer.py, tuners/lycoris_utils.py):
/// scaling α/r with <c>alpha</c>/<c>r</c> from the config and its patterns. Only Linear modules: the Conv forms
/// (hada_t1/t2, lokr_t2) are refused.
/// </summary>
internal static class LycorisReader
{
    private static readonly string[] LoHaSuffixes = ["hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2"];
    private static readonly string[] LoHaFactors = ["hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b"];
    private static readonly string[] LoKrSuffixes = ["lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2"];

    /// <summary>
    /// From the header, before any data: LoHa's (w1_a·w1_b) ⊙ (w2_a·w2_b) is [out, r]·[r, in] twice, at the config's
    /// rank; LoKr's kron(w1, w2) has w1.rows·w2.rows = out and w1.cols·w2.cols = in (each factor whole or as a·b).
    /// </summary>
    private static void CheckHeaderShapes(AdapterReadContext ctx, string[] suffixes, bool loha)
    {
        if (ctx.Base is null) return;
        foreach (var (module, present) in ctx.GroupModules(suffixes))
        {
            if (ctx.BaseDelta(module) is not var (o, i)) continue;
            long r = ctx.Config.RankFor(module);
            if (loha)
            {
                AdapterReadContext.RequireHeaderShape(module, "hada_w1_a", ctx.HeaderShape(module, "hada_w1_a"), [o, r], "[out, r]");
                AdapterReadContext.RequireHeaderShape(module, "hada_w1_b", ctx.HeaderShape(module, "hada_w1_b"), [r, i], "[r, in]");
                AdapterReadContext.RequireHeaderShape(module, "hada_w2_a", ctx.HeaderShape(module, "hada_w2_a"), [o, r], "[out, r]");
                AdapterReadContext.RequireHeaderShape(module, "hada_w2_b", ctx.HeaderShape(module, "hada_w2_b"), [r, i], "[r, in]");
                continue;
            }
            long[]? Whole(string stem) => ctx.HeaderShape(module, stem) is { Length: 2 } w ? w
                : ctx.HeaderShape(module, stem + "_a") is { Length: 2 } a && ctx.HeaderShape(module, stem + "_b") is { Length: 2 } b && a[1] == b[0] ? [a[0], b[1]]
                : null;
            if (Whole("lokr_w1") is { } w1 && Whole("lokr_w2") is { } w2 && (w1[0] * w2[0] != o || w1[1] * w2[1] != i))
                throw new AdapterFormatException($"module {module}: LoKr factors claim kron([{w1[0]}, {w1[1]}], [{w2[0]}, {w2[1]}]) = " +
                    $"[{w1[0] * w2[0]}, {w1[1] * w2[1]}], but the base weight is [{o}, {i}] ([out, in]); refused before reading them");
        }
    }

    public static List<IModuleDelta> ReadLoHa(AdapterReadContext ctx)
    {
        CheckHeaderShapes(ctx, LoHaSuffixes, loha: true);
        return ReadLoHaModules(ctx);
    }

    public static List<IModuleDelta> ReadLoKr(AdapterReadContext ctx)
    {
        CheckHeaderShapes(ctx, LoKrSuffixes, loha: false);
        return ReadLoKrModules(ctx);
    }

    private static List<IModuleDelta> ReadLoHaModules(AdapterReadContext ctx) => ReadAll(ctx, LoHaSuffixes, (module, present) =>
    {
        if (present.Contains("hada_t1") || present.Contains("hada_t2"))
            throw new UnsupportedAdapterException("LoHa convolution (hada_t1/hada_t2)", $"module {module}: effective-conv2d LoHa is not a linear module");
        using var scope = torch.NewDisposeScope();
        var w = LoHaFactors.Select(s =>
        {
            ctx.Require(module, present, s);
            var t = ctx.Tensors.Read($"{module}.{s}", module);
            AdapterReadContext.RequireMatrix(module, s, t);
            return t;
        }).ToArray();
        if (w[0].shape[1] != w[1].shape[0] || w[2].shape[1] != w[3].shape[0] || w[0].shape[0] != w[2].shape[0] || w[1].shape[1] != w[3].shape[1])
            throw new AdapterFormatException($"module {module}: LoHa factor shapes [{string.Join(", ", w[0].shape)}]·[{string.Join(", ", w[1].shape)}] ⊙ [{string.Join(", ", w[2].shape)}]·[{string.Join(", ", w[3].shape)}] do not fit");
        return DeltaFactory.LoHa(module, w[0], w[1], w[2], w[3], Scale(ctx, module, (int)w[0].shape[1]));
    });

    private static List<IModuleDelta> ReadLoKrModules(AdapterReadContext ctx) => ReadAll(ctx, LoKrSuffixes, (module, present) =>
    {
        if (present.Contains("lokr_t2"))
            throw new UnsupportedAdapterException("LoKr convolution (lokr_t2)", $"module {module}: effective-conv2d LoKr is not a linear module");
        using var scope = torch.NewDisposeScope();
        var (w1, r1) = Factor(ctx, module, present, "lokr_w1");
        var (w2, r2) = Factor(ctx, module, present, "lokr_w2");
        // PEFT's scaling is alpha / r; r is the configured rank (the low-rank width where a factor is decomposed).
        int rank = r2 ?? r1 ?? ctx.Config.RankFor(module);
        return DeltaFactory.LoKr(module, w1, w2, Scale(ctx, module, rank));
    });

    private static ((torch.Tensor P, torch.Tensor Q), int?) Factor(AdapterReadContext ctx, string module, HashSet<string> present, string stem)
    {
        if (present.Contains(stem))
        {
            var w = ctx.Tensors.Read($"{module}.{stem}", module);
            AdapterReadContext.RequireMatrix(module, stem, w);
            return (DeltaFactory.FullAsFactors(w), null);
        }
        ctx.Require(module, present, stem + "_a");
        ctx.Require(module, present, stem + "_b");
        var a = ctx.Tensors.Read($"{module}.{stem}_a", module); // [rows, r]
        var b = ctx.Tensors.Read($"{module}.{stem}_b", module); // [r, cols]
        AdapterReadContext.RequireMatrix(module, stem + "_a", a);
        AdapterReadContext.RequireMatrix(module, stem + "_b", b);
        if (a.shape[1] != b.shape[0])
            throw new AdapterFormatException($"module {module}: {stem}_a has {a.shape[1]} columns but {stem}_b has {b.shape[0]} rows");
        return ((a, b), (int)a.shape[1]);
    }

    private static double Scale(AdapterReadContext ctx, string module, int tensorRank)
    {
        int r = ctx.Config.RankFor(module);
        if (r != tensorRank)
            throw new AdapterFormatException($"module {module}: the config says rank {r} (r / rank_pattern) but the tensors have rank {tensorRank}");
        return ctx.Config.AlphaFor(module) / r;
    }

    private static List<IModuleDelta> ReadAll(AdapterReadContext ctx, string[] suffixes, Func<string, HashSet<string>, IModuleDelta> read)
    {
        var result = new List<IModuleDelta>();
        try
        {
            foreach (var (module, present) in ctx.GroupModules(suffixes)) result.Add(read(module, present));
        }
        catch
        {
            foreach (var m in result) m.Dispose();
            throw;
        }
        return result;
    }
}
