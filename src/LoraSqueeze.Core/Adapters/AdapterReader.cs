using System.Text.RegularExpressions;
using LoraSqueeze.Core.Safetensors;
using LoraSqueeze.Core.Torch;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// Reads a PEFT adapter folder (<c>adapter_config.json</c> + <c>adapter_model.safetensors</c>) into one ΔW per
/// target module, refusing what has no single static ΔW (adapter-formats.md §5.4–§5.8, §13) with the feature named.
/// </summary>
public static partial class AdapterReader
{
    /// <summary>The weights file PEFT writes.</summary>
    public const string WeightsFileName = "adapter_model.safetensors";

    private static readonly string[] ResidualInits = ["pissa", "olora", "corda", "lora_ga", "loftq"];

    /// <summary>
    /// Reads <paramref name="adapterDir"/>. <paramref name="baseModelDir"/> (a HF model folder) is needed for DoRA and
    /// VeRA, and when given every module is checked against the base weights' shapes.
    /// </summary>
    public static LoadedAdapter Read(string adapterDir, string? baseModelDir = null)
    {
        TorchRuntime.EnsureInitialized();
        if (!Directory.Exists(adapterDir)) throw new AdapterFormatException($"{adapterDir}: adapter folder not found");
        var config = AdapterConfig.Load(Path.Combine(adapterDir, AdapterConfig.FileName));
        var weights = Path.Combine(adapterDir, WeightsFileName);
        if (!File.Exists(weights))
        {
            var bin = Path.Combine(adapterDir, "adapter_model.bin");
            throw new AdapterFormatException(File.Exists(bin)
                ? $"{bin}: pickle adapters are not read (they can run code); convert to {WeightsFileName} first"
                : $"{weights}: adapter weights not found");
        }
        RegularFile.Require(weights, "adapter weights file");
        RefuseConfig(config, adapterDir);

        using var baseModel = baseModelDir is null ? null : BaseModelWeights.Open(baseModelDir);
        ITensorSource source;
        try
        {
            source = SafetensorsFile.Open(weights);
        }
        catch (Exception ex) when (ex is SafetensorsFormatException or IOException or UnauthorizedAccessException)
        {
            throw new AdapterFormatException($"{weights}: cannot read adapter weights: {ex.Message}", ex);
        }
        using var tensors = new AdapterTensors(source);
        RefuseTensors(tensors);
        if (baseModel is not null) BoundClaimedSizes(tensors, baseModel);
        var ctx = new AdapterReadContext(tensors, config, baseModel);
        var (kind, modules) = config.PeftType switch
        {
            "LORA" => LoraFamilyReader.Read(ctx),
            "ADALORA" => (AdapterKind.AdaLora, AdaLoraReader.Read(ctx)),
            "VERA" => (AdapterKind.Vera, VeraReader.Read(ctx)),
            "LOHA" => (AdapterKind.LoHa, LycorisReader.ReadLoHa(ctx)),
            "LOKR" => (AdapterKind.LoKr, LycorisReader.ReadLoKr(ctx)),
            "MIXLORA" or "LORAMOE" or "MOLA" or "XLORA" => throw new UnsupportedAdapterException("MoE-LoRA",
                $"{adapterDir}: peft_type {config.PeftType} routes tokens between experts, so there is no single ΔW per module"),
            var t => throw new UnsupportedAdapterException($"peft_type {t}", $"{adapterDir}: only LORA, ADALORA, VERA, LOHA and LOKR adapters are read"),
        };
        if (modules.Count == 0) throw new AdapterFormatException($"{weights}: no adapter modules found");
        if (baseModel is not null)
        {
            foreach (var m in modules) baseModel.CheckFits(m.ModulePath, m.OutFeatures, m.InFeatures, config.FanInFanOut);
        }
        var name = Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(adapterDir)));
        return new LoadedAdapter(name, adapterDir, config, kind, modules.OrderBy(m => m.ModulePath, StringComparer.Ordinal).ToList());
    }

    private static void RefuseConfig(AdapterConfig c, string dir)
    {
        if (c.ModulesToSave is { Count: > 0 } mts)
            throw new UnsupportedAdapterException("modules_to_save", $"{dir}: modules {string.Join(", ", mts)} are saved whole (replacement weights, full rank), which a LoRA cannot carry exactly; retrain without modules_to_save or extract them with 'lorasqueeze extract'");
        var init = c.InitLoraWeights.ToLowerInvariant();
        if (ResidualInits.Any(r => init.StartsWith(r, StringComparison.Ordinal)))
            throw new UnsupportedAdapterException($"init_lora_weights={c.InitLoraWeights}", $"{dir}: PiSSA/OLoRA-style residual initialisation changes the base weights, so this adapter is only correct on its residual base; convert it with PEFT's save_pretrained(path_initial_model_for_weight_conversion=...) first");
        if (c.HasLayerReplication) throw new UnsupportedAdapterException("layer_replication", $"{dir}: adapter keys index an expanded layer stack");
        if (c.HasAloraInvocationTokens) throw new UnsupportedAdapterException("alora_invocation_tokens", $"{dir}: activated LoRA applies only after its invocation tokens and cannot be merged into a static ΔW");
        if (c.HasTargetParameters) throw new UnsupportedAdapterException("target_parameters", $"{dir}: LoRA on fused MoE expert parameters is not one ΔW per linear module");
        if (c.HasTrainableTokens) throw new UnsupportedAdapterException("trainable_token_indices", $"{dir}: sparse embedding rows are not a LoRA on a linear module");
        if (!string.Equals(c.Bias, "none", StringComparison.OrdinalIgnoreCase) || c.LoraBias)
            throw new UnsupportedAdapterException("bias", $"{dir}: the adapter trains biases (bias={c.Bias}, lora_bias={c.LoraBias.ToString().ToLowerInvariant()}), which a standard LoRA output cannot carry");
    }

    /// <summary>
    /// Refuses, from the header alone and before any data is read, a tensor larger than any module of the base model
    /// could use: a dimension above the base's largest matrix side, or more elements than its largest matrix. No
    /// adapter kind needs more (a full-weight delta of a module is that module's size; LoRA, DoRA, VeRA, LoHa and LoKr
    /// factors are smaller), so a header claiming a [8, 134217728] lora_A is refused at once instead of costing
    /// seconds of reading and gigabytes of memory before the shape check.
    /// </summary>
    private static void BoundClaimedSizes(AdapterTensors t, BaseModelWeights baseModel)
    {
        long maxSide = 0, maxElements = 0, allElements = 0;
        foreach (var module in baseModel.MatrixModules)
        {
            if (baseModel.WeightShape(module) is not { Length: 2 } s) continue;
            maxSide = Math.Max(maxSide, Math.Max(s[0], s[1]));
            maxElements = Math.Max(maxElements, s[0] * s[1]);
            allElements += s[0] * s[1];
        }
        if (maxSide == 0) return;
        foreach (var name in t.Names)
        {
            if (t.Shape(name) is not { } shape) continue;
            long elements = 1;
            bool tooLarge = false;
            foreach (var d in shape)
            {
                tooLarge |= d > maxSide;
                elements = d == 0 ? 0 : elements > maxElements / Math.Max(d, 1) ? maxElements + 1 : elements * d;
            }
            if (tooLarge || elements > maxElements)
                throw new AdapterFormatException($"{t.Location}: tensor '{name}' claims shape [{string.Join(", ", shape)}], larger than any " +
                    $"module of the base model (largest side {maxSide}, largest matrix {maxElements} elements); refused before reading it");
        }
        // The whole file (each tensor fits, checked above, but a thousand of them need not): no adapter holds more than a
        // float64 delta of every matrix of the base (twice that, for slack).
        long maxFileBytes = 2 * 8 * allElements;
        if (t.ClaimedBytes > maxFileBytes)
            throw new AdapterFormatException($"{t.Location}: its tensors claim {t.ClaimedBytes} bytes, more than any adapter of this base " +
                $"model can hold ({maxFileBytes} bytes: a float64 delta of every matrix, twice); refused before reading it");
    }

    private static void RefuseTensors(AdapterTensors t)
    {
        foreach (var name in t.Names)
        {
            if (MoeKey().IsMatch(name))
                throw new UnsupportedAdapterException("MoE-LoRA", $"{t.Location}: tensor '{name}' is a mixture-of-experts router or expert (MixLoRA/LoRAMoE/MoLA layout); experts are routed per token, so there is no single ΔW per module");
            if (name.Contains("lora_embedding_", StringComparison.Ordinal))
                throw new UnsupportedAdapterException("embedding LoRA", $"{t.Location}: tensor '{name}' adapts an embedding table, not a linear module");
        }
    }

    [GeneratedRegex(@"(lora_[AB]_?\d+\b|lora_route|router\.|moe_gate|\.experts\.\d+\.)", RegexOptions.CultureInvariant)]
    private static partial Regex MoeKey();
}
