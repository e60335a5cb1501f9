using LoraSqueeze.Core.Safetensors;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Loading;

/// <summary>
/// Fills a <see cref="CausalLM"/>'s parameters from safetensors (single file or sharded index) with strict key matching:
/// every parameter must be present with its exact shape, and any unknown key is an error. Both lists are reported in
/// full. Tolerated extras: <c>rotary_emb.inv_freq</c> buffers (old checkpoints) and <c>lm_head.weight</c> when tied.
/// Stored F32/F16/BF16 are converted to the compute dtype on read.
/// </summary>
public static class WeightLoader
{
    public static void Load(CausalLM model, string modelDir)
    {
        using var source = SafetensorsCheckpoint.Open(modelDir);
        Load(model, source);
    }

    public static void Load(CausalLM model, ITensorSource source)
    {
        var expected = model.NamedParameters().ToDictionary(p => p.Name, p => p.Tensor, StringComparer.Ordinal);
        var missing = expected.Keys.Where(k => source.Find(k) is null).Order(StringComparer.Ordinal).ToList();
        var unexpected = source.Names.Where(n => !expected.ContainsKey(n) && !Ignorable(n, model)).Order(StringComparer.Ordinal).ToList();
        var badShapes = new List<string>();
        foreach (var (name, tensor) in expected)
        {
            var info = source.Find(name);
            if (info is null) continue;
            if (!info.Shape.SequenceEqual(tensor.shape))
                badShapes.Add($"{name}: stored {info.ShapeText}, model expects [{string.Join(", ", tensor.shape)}]");
            else if (!info.DType.IsFloat())
                badShapes.Add($"{name}: stored dtype {info.DType} is not a float type");
        }
        if (missing.Count > 0 || unexpected.Count > 0 || badShapes.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing keys ({missing.Count}): {string.Join(", ", missing)}");
            if (unexpected.Count > 0) parts.Add($"unexpected keys ({unexpected.Count}): {string.Join(", ", unexpected)}");
            if (badShapes.Count > 0) parts.Add($"mismatched ({badShapes.Count}): {string.Join("; ", badShapes)}");
            throw new InvalidDataException($"{source.Location} does not fit {model.Config.ModelType} config: {string.Join(" | ", parts)}");
        }
        using var mode = inference_mode();
        foreach (var (name, tensor) in expected)
        {
            using var scope = NewDisposeScope();
            var stored = source.ReadTensor(name, tensor.dtype);   // CPU, converted to the compute dtype
            tensor.copy_(stored);                                  // to the device, in place
        }
    }

    private static bool Ignorable(string name, CausalLM model) =>
        name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal)
        || (name == "lm_head.weight" && model.Config.TieWordEmbeddings);
}
