using System.Text.Json;
using System.Text.Json.Nodes;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// The fields of a PEFT <c>adapter_config.json</c> that decide how ΔW is rebuilt (adapter-formats.md §1.3, §6, §8,
/// §12). Parsed leniently: numbers may be int or float, <c>target_modules</c> a list, a regex string or null, and
/// unknown fields are kept in <see cref="Raw"/>.
/// </summary>
public sealed class AdapterConfig
{
    /// <summary>The file name PEFT uses.</summary>
    public const string FileName = "adapter_config.json";

    public string PeftType { get; init; } = "LORA";
    public int R { get; init; } = 8;
    /// <summary><c>lora_alpha</c> (LoRA, AdaLoRA) or <c>alpha</c> (LoHa, LoKr).</summary>
    public double Alpha { get; init; } = 8;
    public bool UseRslora { get; init; }
    public bool UseDora { get; init; }
    public bool FanInFanOut { get; init; }
    /// <summary>LoRA <c>rank_pattern</c> (regex → rank), in file order. AdaLoRA's bool-list form is in <see cref="AdaLoraMasks"/>.</summary>
    public IReadOnlyList<KeyValuePair<string, int>> RankPattern { get; init; } = [];
    public IReadOnlyList<KeyValuePair<string, double>> AlphaPattern { get; init; } = [];
    /// <summary>AdaLoRA <c>rank_pattern</c>: <c>…lora_E</c> key → kept-triplet mask.</summary>
    public IReadOnlyDictionary<string, bool[]> AdaLoraMasks { get; init; } = new Dictionary<string, bool[]>();
    public IReadOnlyList<string>? TargetModules { get; init; }
    public string? TargetModulesRegex { get; init; }
    public IReadOnlyList<string>? ModulesToSave { get; init; }
    /// <summary><c>init_lora_weights</c> as text ("true", "gaussian", "pissa", "olora", …).</summary>
    public string InitLoraWeights { get; init; } = "true";
    public string Bias { get; init; } = "none";
    public bool LoraBias { get; init; }
    public bool HasLayerReplication { get; init; }
    public bool HasAloraInvocationTokens { get; init; }
    public bool HasTargetParameters { get; init; }
    public bool HasTrainableTokens { get; init; }
    /// <summary>AdaLoRA <c>init_r</c> (the <c>ranknum</c> PEFT divides by).</summary>
    public int InitR { get; init; } = 12;
    /// <summary>VeRA <c>projection_prng_key</c>.</summary>
    public long ProjectionPrngKey { get; init; }
    /// <summary>VeRA <c>save_projection</c>.</summary>
    public bool SaveProjection { get; init; } = true;
    public string? BaseModelNameOrPath { get; init; }
    public string? TaskType { get; init; }
    /// <summary>The whole parsed JSON.</summary>
    public JsonObject Raw { get; init; } = [];

    /// <summary>An adapter config is a few kilobytes; a larger file is not one (and is never read whole).</summary>
    public const int MaxConfigBytes = 1 << 20;

    /// <summary>Reads and parses <paramref name="path"/>; errors name the file and field.</summary>
    public static AdapterConfig Load(string path)
    {
        if (!File.Exists(path)) throw new AdapterFormatException($"{path}: adapter config not found");
        RegularFile.Require(path, "adapter config");
        string text;
        try
        {
            text = ReadBounded(path);
        }
        catch (IOException ex)
        {
            throw new AdapterFormatException($"{path}: cannot read adapter config: {ex.Message}", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new AdapterFormatException($"{path}: cannot read adapter config: {ex.Message}", ex);
        }
        return Parse(text, path);
    }

    /// <summary>
    /// The file's text, reading at most <see cref="MaxConfigBytes"/> + 1 bytes: a config that is really a device
    /// (a link to /dev/zero) or a huge file is refused after a megabyte instead of filling memory.
    /// </summary>
    private static string ReadBounded(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 14);
        using var text = new MemoryStream();
        var buffer = new byte[1 << 14];
        int n;
        while ((n = stream.Read(buffer, 0, buffer.Length)) > 0)
        {
            text.Write(buffer, 0, n);
            if (text.Length > MaxConfigBytes)
                throw new AdapterFormatException($"{path}: larger than {MaxConfigBytes} bytes; an adapter config is a few kilobytes");
        }
        return System.Text.Encoding.UTF8.GetString(text.GetBuffer(), 0, (int)text.Length);
    }

    /// <summary>Parses JSON text; <paramref name="source"/> names it in errors.</summary>
    public static AdapterConfig Parse(string json, string source = AdapterConfig.FileName)
    {
        JsonObject obj;
        try
        {
            obj = JsonNode.Parse(json) as JsonObject ?? throw new AdapterFormatException($"{source}: not a JSON object");
        }
        catch (JsonException ex)
        {
            throw new AdapterFormatException($"{source}: invalid JSON: {ex.Message}", ex);
        }
        try
        {
            var peftType = Str(obj, "peft_type")?.ToUpperInvariant() ?? "LORA";
            var rNode = obj["r"];
            if (rNode is JsonArray)
                throw new UnsupportedAdapterException("MoE-LoRA (MoLA)", $"{source}: 'r' is a list (one rank per layer), which is MoLA's mixture-of-experts format; experts are routed per token, so there is no single ΔW per module");
            var (rankPattern, adaMasks) = ParseRankPattern(obj["rank_pattern"], source);
            var (targets, targetRegex) = ParseTargets(obj["target_modules"]);
            return new AdapterConfig
            {
                PeftType = peftType,
                R = (int)(Num(obj, "r") ?? 8),
                Alpha = Num(obj, "lora_alpha") ?? Num(obj, "alpha") ?? 8,
                UseRslora = Bool(obj, "use_rslora"),
                UseDora = Bool(obj, "use_dora"),
                FanInFanOut = Bool(obj, "fan_in_fan_out"),
                RankPattern = rankPattern,
                AlphaPattern = ParseNumberMap(obj["alpha_pattern"], source, "alpha_pattern"),
                AdaLoraMasks = adaMasks,
                TargetModules = targets,
                TargetModulesRegex = targetRegex,
                ModulesToSave = obj["modules_to_save"] is JsonArray mts ? mts.Select(n => n?.ToString() ?? "").ToList() : null,
                InitLoraWeights = obj["init_lora_weights"] switch
                {
                    null => "true",
                    JsonValue v when v.TryGetValue<bool>(out var b) => b ? "true" : "false",
                    var n => n.ToString(),
                },
                Bias = Str(obj, "bias") ?? "none",
                LoraBias = Bool(obj, "lora_bias"),
                HasLayerReplication = obj["layer_replication"] is JsonArray { Count: > 0 },
                HasAloraInvocationTokens = obj["alora_invocation_tokens"] is JsonArray { Count: > 0 },
                HasTargetParameters = obj["target_parameters"] is JsonArray { Count: > 0 },
                HasTrainableTokens = obj["trainable_token_indices"] is JsonArray { Count: > 0 } or JsonObject { Count: > 0 },
                InitR = (int)(Num(obj, "init_r") ?? 12),
                ProjectionPrngKey = (long)(Num(obj, "projection_prng_key") ?? 0),
                SaveProjection = obj["save_projection"] is null || Bool(obj, "save_projection"),
                BaseModelNameOrPath = Str(obj, "base_model_name_or_path"),
                TaskType = Str(obj, "task_type"),
                Raw = obj,
            };
        }
        catch (InvalidOperationException ex)
        {
            throw new AdapterFormatException($"{source}: a field has the wrong type: {ex.Message}", ex);
        }
        catch (FormatException ex)
        {
            throw new AdapterFormatException($"{source}: a field has the wrong type: {ex.Message}", ex);
        }
    }

    /// <summary>Rank for a module from <c>rank_pattern</c>, or the global <c>r</c> (PEFT's get_pattern_key).</summary>
    public int RankFor(string modulePath)
    {
        var key = PatternMatcher.Find(RankPattern.Select(p => p.Key), modulePath);
        return key is null ? R : RankPattern.First(p => p.Key == key).Value;
    }

    /// <summary>Alpha for a module from <c>alpha_pattern</c>, or the global alpha.</summary>
    public double AlphaFor(string modulePath)
    {
        var key = PatternMatcher.Find(AlphaPattern.Select(p => p.Key), modulePath);
        return key is null ? Alpha : AlphaPattern.First(p => p.Key == key).Value;
    }

    private static string? Str(JsonObject o, string name) => o[name] is JsonValue v && v.TryGetValue<string>(out var s) ? s : null;

    private static bool Bool(JsonObject o, string name) => o[name] is JsonValue v && v.TryGetValue<bool>(out var b) && b;

    private static double? Num(JsonObject o, string name) => o[name] switch
    {
        null => null,
        JsonValue v when v.TryGetValue<double>(out var d) => d,
        var n => throw new FormatException($"'{name}' should be a number, got {n.ToJsonString()}"),
    };

    private static (IReadOnlyList<string>? List, string? Regex) ParseTargets(JsonNode? node) => node switch
    {
        JsonArray a => (a.Select(n => n?.ToString() ?? "").ToList(), null),
        JsonValue v when v.TryGetValue<string>(out var s) => s == "all-linear" ? (["all-linear"], null) : (null, s),
        _ => (null, null),
    };

    private static (IReadOnlyList<KeyValuePair<string, int>>, IReadOnlyDictionary<string, bool[]>) ParseRankPattern(JsonNode? node, string source)
    {
        var ints = new List<KeyValuePair<string, int>>();
        var masks = new Dictionary<string, bool[]>();
        if (node is not JsonObject o) return (ints, masks);
        foreach (var (k, v) in o)
        {
            if (v is JsonArray arr)
                masks[k] = arr.Select(x => x is JsonValue xv && xv.TryGetValue<bool>(out var b) && b).ToArray();
            else if (v is JsonValue jv && jv.TryGetValue<double>(out var d))
                ints.Add(new(k, (int)d));
            else
                throw new AdapterFormatException($"{source}: rank_pattern['{k}'] is neither a rank nor an AdaLoRA mask");
        }
        return (ints, masks);
    }

    private static List<KeyValuePair<string, double>> ParseNumberMap(JsonNode? node, string source, string field)
    {
        var list = new List<KeyValuePair<string, double>>();
        if (node is not JsonObject o) return list;
        foreach (var (k, v) in o)
        {
            if (v is JsonValue jv && jv.TryGetValue<double>(out var d)) list.Add(new(k, d));
            else throw new AdapterFormatException($"{source}: {field}['{k}'] is not a number");
        }
        return list;
    }
}
