using System.Text.Json;
using System.Text.Json.Nodes;
using LoraSqueeze.Core.Safetensors;
using TorchSharp;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// Writes a standard PEFT LoRA folder that loads in PEFT and vLLM as is (adapter-formats.md §16): scaling folded in,
/// so <c>lora_alpha = r</c> and plain scaling; keys <c>base_model.model.&lt;path&gt;.lora_A.weight</c> [r, in] and
/// <c>.lora_B.weight</c> [out, r]; non-uniform ranks written as <c>rank_pattern</c>/<c>alpha_pattern</c> keyed by
/// full module path with α_m = r_m (mergekit's convention). Written to a temporary sibling folder and renamed, so a
/// failure leaves nothing half-written in the output folder.
/// </summary>
public static class PeftLoraWriter
{
    /// <summary>Writes <paramref name="weights"/> to <paramref name="outDir"/> (created; replaced only when <paramref name="overwrite"/>).</summary>
    public static void Write(LoraWeights weights, string outDir, string? baseModelNameOrPath = null, string? taskType = null, bool overwrite = false)
    {
        var full = Path.GetFullPath(outDir);
        if (Directory.Exists(full) && Directory.EnumerateFileSystemEntries(full).Any() && !overwrite)
            throw new IOException($"{outDir}: output folder exists and is not empty (pass --force to replace it)");
        var temp = StagingFolder.Create(full);
        try
        {
            WriteFiles(weights, temp, baseModelNameOrPath, taskType);
            StagingFolder.Commit(temp, full);
        }
        catch
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    private static void WriteFiles(LoraWeights weights, string dir, string? baseModel, string? taskType)
    {
        int r = weights.Rank;
        var tensors = new List<KeyValuePair<string, torch.Tensor>>();
        foreach (var m in weights.Modules)
        {
            tensors.Add(new(AdapterKeys.PeftLoraKey(m.ModulePath, "lora_A"), m.A.to_type(torch.ScalarType.Float32).contiguous())); // [r, in]
            tensors.Add(new(AdapterKeys.PeftLoraKey(m.ModulePath, "lora_B"), m.B.to_type(torch.ScalarType.Float32).contiguous())); // [out, r]
        }
        SafetensorsWriter.Write(Path.Combine(dir, AdapterReader.WeightsFileName), tensors, new Dictionary<string, string> { ["format"] = "pt" });

        var rankPattern = new JsonObject();
        var alphaPattern = new JsonObject();
        foreach (var m in weights.Modules.Where(m => m.Rank != r))
        {
            rankPattern[m.ModulePath] = m.Rank;
            alphaPattern[m.ModulePath] = m.Rank;
        }
        var targets = new JsonArray(weights.Modules.Select(m => m.ModulePath[(m.ModulePath.LastIndexOf('.') + 1)..])
            .Distinct().Order(StringComparer.Ordinal).Select(t => (JsonNode)JsonValue.Create(t)!).ToArray());
        var config = new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = taskType ?? "CAUSAL_LM",
            ["base_model_name_or_path"] = baseModel,
            ["r"] = r,
            ["lora_alpha"] = r,
            ["target_modules"] = targets,
            ["rank_pattern"] = rankPattern,
            ["alpha_pattern"] = alphaPattern,
            ["use_rslora"] = false,
            ["use_dora"] = false,
            ["fan_in_fan_out"] = false,
            ["bias"] = "none",
            ["lora_dropout"] = 0.0,
            ["modules_to_save"] = null,
            ["init_lora_weights"] = true,
            ["inference_mode"] = true,
        };
        File.WriteAllText(Path.Combine(dir, AdapterConfig.FileName), config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }
}
