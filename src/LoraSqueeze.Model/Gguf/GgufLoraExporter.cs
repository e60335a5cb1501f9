using System.Text.RegularExpressions;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Model.Config;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Gguf;

/// <summary>
/// Exports a standard LoRA held in memory (scaling folded in: ΔW = B·A, e.g. any adapter after a squeeze) as a
/// llama.cpp LoRA GGUF (convert_lora_to_gguf.py's layout: <c>general.type = adapter</c>, <c>adapter.type = lora</c>,
/// <c>blk.L.attn_q.weight.lora_a</c> = A [r, in] and <c>.lora_b</c> = B [out, r], B's rows of q/k permuted like the
/// base weights'). llama.cpp scales each tensor pair by alpha / rank (llama-adapter.cpp, rank = lora_b's ne[0]); the
/// file's alpha is the adapter's largest rank and a module of smaller rank has its B multiplied by rank / alpha, so
/// every module's effective scale is exactly 1.
/// </summary>
public static partial class GgufLoraExporter
{
    [GeneratedRegex(@"^model\.layers\.(\d+)\.(self_attn\.[qkvo]_proj|mlp\.(?:gate|up|down)_proj)$")]
    private static partial Regex ModulePattern();

    public static void Export(LoraWeights weights, ModelConfig config, string outPath, GgufTensorType type = GgufTensorType.F32)
    {
        GgufModelExporter.Refuse(config);
        string arch = GgufLlamaNames.Architecture(config);
        if (weights.Modules.Count == 0) throw new AdapterFormatException($"{weights.Name}: the adapter has no modules to export");
        var w = new GgufWriter();
        w.Add("general.architecture", arch);
        w.Add("general.type", "adapter");
        w.Add("general.name", weights.Name);
        w.Add("adapter.type", "lora");
        w.Add("adapter.lora.alpha", (float)weights.Rank);
        var stems = GgufLlamaNames.Projections.ToDictionary(p => p.Hf, p => p.Gguf, StringComparer.Ordinal);
        foreach (var m in weights.Modules)
        {
            var match = ModulePattern().Match(m.ModulePath);
            if (!match.Success)
                throw new AdapterFormatException($"{weights.Name}: module {m.ModulePath} has no llama.cpp LoRA tensor (only the seven attention and MLP projections of the decoder layers do)");
            int layer = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            string hf = match.Groups[2].Value;
            if (layer >= config.NumHiddenLayers)
                throw new AdapterFormatException($"{weights.Name}: module {m.ModulePath} is past the model's {config.NumHiddenLayers} layers");
            string name = $"blk.{layer}.{stems[hf]}.weight";
            int heads = GgufLlamaNames.PermuteHeads(config, hf);
            float compensate = (float)m.Rank / weights.Rank;   // llama.cpp applies alpha / rank = weights.Rank / m.Rank
            var a = m.A;
            w.AddTensor(name + ".lora_a", m.Rank, m.InFeatures, type, Rows(() => a.to(ScalarType.Float32)));
            var b = m.B;
            w.AddTensor(name + ".lora_b", m.OutFeatures, m.Rank, type, Rows(() =>
            {
                var bf = b.to(ScalarType.Float32);
                if (heads > 0) bf = GgufLlamaNames.Permute(bf, heads);   // [out, r], rows regrouped like the base q/k weight
                return compensate == 1f ? bf : bf.mul(compensate);
            }));
        }
        w.Write(outPath);
    }

    /// <summary>Row reader over a tensor made on first use ([rows, columns]).</summary>
    private static Action<long, Span<float>> Rows(Func<Tensor> make)
    {
        float[]? data = null;
        long columns = 0;
        return (r, row) =>
        {
            if (data is null || r == 0)
            {
                using var scope = NewDisposeScope();
                var t = make().contiguous();
                columns = t.shape[1];
                data = t.data<float>().ToArray();
            }
            data.AsSpan((int)(r * columns), (int)columns).CopyTo(row);
        };
    }
}
