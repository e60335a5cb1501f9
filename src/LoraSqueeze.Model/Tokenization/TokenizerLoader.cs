using System.Text.Json;
using System.Text.RegularExpressions;

namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// Builds a <see cref="HuggingFaceTokenizer"/> from a Hugging Face model directory: <c>tokenizer.json</c> (the
/// serialized <c>tokenizers</c> pipeline), <c>tokenizer_config.json</c> (BOS/EOS, <c>add_bos_token</c>) and
/// <c>generation_config.json</c> (<c>eos_token_id</c>, an int or a list). Anything the pipeline cannot reproduce
/// exactly is refused with a <see cref="TokenizerFormatException"/> naming the field.
/// </summary>
public static class TokenizerLoader
{
    private static readonly JsonDocumentOptions JsonOptions = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };

    public static HuggingFaceTokenizer FromDirectory(string directory)
    {
        if (!Directory.Exists(directory))
            throw new TokenizerFormatException($"Model directory '{directory}' does not exist.");
        var path = Path.Combine(directory, "tokenizer.json");
        if (!File.Exists(path))
            throw new TokenizerFormatException($"'{path}' not found: only tokenizer.json tokenizers are supported.");

        using var tokenizerJson = Parse(path);
        using var config = ParseOptional(Path.Combine(directory, "tokenizer_config.json"));
        using var generation = ParseOptional(Path.Combine(directory, "generation_config.json"));
        return Build(tokenizerJson.RootElement, config?.RootElement, generation?.RootElement);
    }

    /// <summary>Builds from already-parsed JSON (the config files are optional).</summary>
    public static HuggingFaceTokenizer Build(JsonElement tokenizer, JsonElement? config = null, JsonElement? generation = null)
    {
        if (tokenizer.ValueKind != JsonValueKind.Object)
            throw new TokenizerFormatException("tokenizer.json: the root is not a JSON object.");

        var normalizer = ParseNormalizer(Get(tokenizer, "normalizer"), "normalizer");
        var preTokenizer = ParsePreTokenizer(Get(tokenizer, "pre_tokenizer"), "pre_tokenizer");
        var decoder = ParseDecoder(Get(tokenizer, "decoder"), "decoder");
        var model = ParseModel(tokenizer);
        var added = ParseAddedTokens(Get(tokenizer, "added_tokens"));

        int? Lookup(string token)
        {
            foreach (var t in added)
                if (t.Content == token) return t.Id;
            return model.TokenToId(token);
        }

        var postProcessor = ParsePostProcessor(Get(tokenizer, "post_processor"), "post_processor", Lookup);

        int? bos = null;
        var eos = new List<int>();
        if (config is JsonElement cfg)
        {
            if (TokenName(Get(cfg, "bos_token")) is string bosName)
                bos = Lookup(bosName) ?? throw new TokenizerFormatException($"tokenizer_config.json bos_token: '{bosName}' is not a token.");
            if (TokenName(Get(cfg, "eos_token")) is string eosName)
                eos.Add(Lookup(eosName) ?? throw new TokenizerFormatException($"tokenizer_config.json eos_token: '{eosName}' is not a token."));
            postProcessor = ApplyLlamaBosEosFlags(cfg, postProcessor, bos, eos);
        }
        if (generation is JsonElement gen && Get(gen, "eos_token_id") is JsonElement eosIds)
        {
            if (eosIds.ValueKind == JsonValueKind.Number) AddDistinct(eos, eosIds.GetInt32());
            else if (eosIds.ValueKind == JsonValueKind.Array)
                foreach (var e in eosIds.EnumerateArray()) AddDistinct(eos, e.GetInt32());
        }

        return new HuggingFaceTokenizer(model, added, normalizer, preTokenizer, decoder, postProcessor, bos, eos);
    }

    // transformers' LlamaTokenizerFast (tokenization_llama_fast.py, update_post_processor) rebuilds the template from
    // add_bos_token/add_eos_token; other classes (PreTrainedTokenizerFast for Llama-3, Qwen2Tokenizer) keep the
    // tokenizer.json post-processor as is.
    private static PostProcessor ApplyLlamaBosEosFlags(JsonElement cfg, PostProcessor current, int? bos, List<int> eos)
    {
        var cls = Get(cfg, "tokenizer_class")?.GetString();
        if (cls is not ("LlamaTokenizer" or "LlamaTokenizerFast" or "CodeLlamaTokenizer" or "CodeLlamaTokenizerFast")) return current;
        var addBos = Get(cfg, "add_bos_token");
        var addEos = Get(cfg, "add_eos_token");
        if (addBos is null && addEos is null) return current;
        bool wantBos = addBos?.ValueKind == JsonValueKind.True;
        bool wantEos = addEos?.ValueKind == JsonValueKind.True;
        return new PostProcessor(
            wantBos && bos is int b ? [b] : [],
            wantEos && eos.Count > 0 ? [eos[0]] : []);
    }

    private static void AddDistinct(List<int> list, int value)
    {
        if (!list.Contains(value)) list.Add(value);
    }

    private static string? TokenName(JsonElement? e) => e?.ValueKind switch
    {
        JsonValueKind.String => e.Value.GetString(),
        JsonValueKind.Object => Get(e.Value, "content")?.GetString(),
        _ => null,
    };

    private static BpeModel ParseModel(JsonElement root)
    {
        var model = Get(root, "model") ?? throw new TokenizerFormatException("tokenizer.json: 'model' is missing.");
        var type = Get(model, "type")?.GetString() ?? (Get(model, "merges") is not null ? "BPE" : null);
        if (type != "BPE")
            throw new TokenizerFormatException($"model.type: '{type ?? "(none)"}' is not supported; only BPE is (Unigram and WordPiece are refused).");
        if (Get(model, "dropout") is JsonElement dropout && dropout.ValueKind == JsonValueKind.Number && dropout.GetDouble() > 0)
            throw new TokenizerFormatException("model.dropout: BPE dropout is not supported (it makes encoding random).");
        foreach (var field in new[] { "continuing_subword_prefix", "end_of_word_suffix" })
            if (Get(model, field)?.GetString() is { Length: > 0 } value)
                throw new TokenizerFormatException($"model.{field}: '{value}' is not supported.");

        var vocabElement = Get(model, "vocab") ?? throw new TokenizerFormatException("model.vocab is missing.");
        var vocab = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var p in vocabElement.EnumerateObject()) vocab[p.Name] = p.Value.GetInt32();

        var merges = new List<(string, string)>();
        if (Get(model, "merges") is JsonElement mergesElement)
        {
            int i = 0;
            foreach (var m in mergesElement.EnumerateArray())
            {
                if (m.ValueKind == JsonValueKind.String)
                {
                    // Older format: "a b" (a token never contains a space in these vocabularies).
                    var s = m.GetString()!;
                    int space = s.IndexOf(' ', StringComparison.Ordinal);
                    if (space <= 0 || space != s.LastIndexOf(' '))
                        throw new TokenizerFormatException($"model.merges[{i}]: '{s}' is not two tokens separated by one space.");
                    merges.Add((s[..space], s[(space + 1)..]));
                }
                else if (m.ValueKind == JsonValueKind.Array && m.GetArrayLength() == 2)
                {
                    merges.Add((m[0].GetString()!, m[1].GetString()!));
                }
                else
                {
                    throw new TokenizerFormatException($"model.merges[{i}]: expected \"a b\" or [\"a\", \"b\"].");
                }
                i++;
            }
        }

        return new BpeModel(
            vocab,
            merges,
            Get(model, "unk_token")?.GetString(),
            Get(model, "fuse_unk")?.ValueKind == JsonValueKind.True,
            Get(model, "byte_fallback")?.ValueKind == JsonValueKind.True,
            Get(model, "ignore_merges")?.ValueKind == JsonValueKind.True);
    }

    private static List<AddedToken> ParseAddedTokens(JsonElement? element)
    {
        var result = new List<AddedToken>();
        if (element is not JsonElement array) return result;
        foreach (var t in array.EnumerateArray())
        {
            result.Add(new AddedToken(
                Get(t, "id")?.GetInt32() ?? throw new TokenizerFormatException("added_tokens: an entry has no 'id'."),
                Get(t, "content")?.GetString() ?? throw new TokenizerFormatException("added_tokens: an entry has no 'content'."),
                Flag(t, "special"),
                Flag(t, "normalized"),
                Flag(t, "lstrip"),
                Flag(t, "rstrip"),
                Flag(t, "single_word")));
        }
        return result;
    }

    private static TextNormalizer? ParseNormalizer(JsonElement? element, string where)
    {
        if (element is not JsonElement e) return null;
        var type = TypeOf(e, where);
        return type switch
        {
            "NFC" => new TextNormalizer.Nfc(),
            "Lowercase" => new TextNormalizer.Lowercase(),
            "Prepend" => new TextNormalizer.Prepend(RequireString(e, "prepend", where)),
            "Strip" => new TextNormalizer.Strip(Flag(e, "strip_left"), Flag(e, "strip_right")),
            "Replace" => ParseReplaceNormalizer(e, where),
            "Sequence" => new TextNormalizer.Sequence(Items(e, "normalizers", where)
                .Select((n, i) => ParseNormalizer(n, $"{where}.normalizers[{i}]")!).ToList()),
            _ => throw new TokenizerFormatException($"{where}.type: normalizer '{type}' is not supported."),
        };
    }

    private static TextNormalizer.Replace ParseReplaceNormalizer(JsonElement e, string where)
    {
        var (literal, regex) = ParsePattern(e, where);
        return new TextNormalizer.Replace(literal, regex is null ? null : new Regex(regex, RegexOptions.CultureInvariant), RequireString(e, "content", where));
    }

    private static (string? Literal, string? Regex) ParsePattern(JsonElement e, string where)
    {
        var pattern = Get(e, "pattern") ?? throw new TokenizerFormatException($"{where}.pattern is missing.");
        if (Get(pattern, "String")?.GetString() is string literal) return (literal, null);
        if (Get(pattern, "Regex")?.GetString() is string regex) return (null, regex);
        throw new TokenizerFormatException($"{where}.pattern: expected {{\"String\": ...}} or {{\"Regex\": ...}}.");
    }

    private static PreTokenizer? ParsePreTokenizer(JsonElement? element, string where)
    {
        if (element is not JsonElement e) return null;
        var type = TypeOf(e, where);
        switch (type)
        {
            case "ByteLevel":
                return new PreTokenizer.ByteLevel(Flag(e, "add_prefix_space"), Get(e, "use_regex")?.ValueKind != JsonValueKind.False);
            case "Split":
            {
                if (Flag(e, "invert")) throw new TokenizerFormatException($"{where}.invert: inverted Split is not supported.");
                var (literal, regex) = ParsePattern(e, where);
                var behavior = RequireString(e, "behavior", where) switch
                {
                    "Isolated" => PreTokenizer.SplitBehavior.Isolated,
                    "Removed" => PreTokenizer.SplitBehavior.Removed,
                    "MergedWithPrevious" => PreTokenizer.SplitBehavior.MergedWithPrevious,
                    "MergedWithNext" => PreTokenizer.SplitBehavior.MergedWithNext,
                    "Contiguous" => PreTokenizer.SplitBehavior.Contiguous,
                    var b => throw new TokenizerFormatException($"{where}.behavior: '{b}' is not supported."),
                };
                try
                {
                    return new PreTokenizer.Split(new PatternSplitter(regex ?? Regex.Escape(literal!)), behavior);
                }
                catch (ArgumentException ex)
                {
                    throw new TokenizerFormatException($"{where}.pattern: the regex does not compile in .NET: {ex.Message}", ex);
                }
            }
            case "Metaspace":
            {
                var replacement = RequireString(e, "replacement", where);
                if (replacement.Length != 1) throw new TokenizerFormatException($"{where}.replacement: expected one char.");
                // Older files carry add_prefix_space instead of prepend_scheme.
                var scheme = Get(e, "prepend_scheme")?.GetString() ?? (Get(e, "add_prefix_space")?.ValueKind == JsonValueKind.False ? "never" : "always");
                return new PreTokenizer.Metaspace(replacement[0], scheme, Get(e, "split")?.ValueKind != JsonValueKind.False);
            }
            case "Sequence":
                return new PreTokenizer.Sequence(Items(e, "pretokenizers", where)
                    .Select((p, i) => ParsePreTokenizer(p, $"{where}.pretokenizers[{i}]")!).ToList());
            default:
                throw new TokenizerFormatException($"{where}.type: pre-tokenizer '{type}' is not supported.");
        }
    }

    private static TokenDecoder? ParseDecoder(JsonElement? element, string where)
    {
        if (element is not JsonElement e) return null;
        var type = TypeOf(e, where);
        switch (type)
        {
            case "ByteLevel":
                return new TokenDecoder.ByteLevel();
            case "ByteFallback":
                return new TokenDecoder.ByteFallback();
            case "Fuse":
                return new TokenDecoder.Fuse();
            case "Replace":
            {
                var (literal, _) = ParsePattern(e, where);
                if (literal is null) throw new TokenizerFormatException($"{where}.pattern: only a String pattern is supported in the Replace decoder.");
                return new TokenDecoder.Replace(literal, RequireString(e, "content", where));
            }
            case "Strip":
            {
                var content = RequireString(e, "content", where);
                if (content.Length != 1) throw new TokenizerFormatException($"{where}.content: expected one char.");
                return new TokenDecoder.Strip(content[0], Get(e, "start")?.GetInt32() ?? 0, Get(e, "stop")?.GetInt32() ?? 0);
            }
            case "Metaspace":
            {
                var replacement = RequireString(e, "replacement", where);
                var scheme = Get(e, "prepend_scheme")?.GetString() ?? (Get(e, "add_prefix_space")?.ValueKind == JsonValueKind.False ? "never" : "always");
                return new TokenDecoder.Metaspace(replacement[0], scheme);
            }
            case "Sequence":
                return new TokenDecoder.Sequence(Items(e, "decoders", where)
                    .Select((d, i) => ParseDecoder(d, $"{where}.decoders[{i}]")!).ToList());
            default:
                throw new TokenizerFormatException($"{where}.type: decoder '{type}' is not supported.");
        }
    }

    private static PostProcessor ParsePostProcessor(JsonElement? element, string where, Func<string, int?> lookup)
    {
        if (element is not JsonElement e) return PostProcessor.None;
        var type = TypeOf(e, where);
        switch (type)
        {
            case "ByteLevel":
                return PostProcessor.None;
            case "Sequence":
            {
                var prefix = new List<int>();
                var suffix = new List<int>();
                int i = 0;
                foreach (var p in Items(e, "processors", where))
                {
                    var inner = ParsePostProcessor(p, $"{where}.processors[{i++}]", lookup);
                    prefix.InsertRange(0, inner.Prefix);
                    suffix.AddRange(inner.Suffix);
                }
                return new PostProcessor(prefix, suffix);
            }
            case "TemplateProcessing":
                return ParseTemplate(e, where);
            default:
                throw new TokenizerFormatException($"{where}.type: post-processor '{type}' is not supported.");
        }
    }

    private static PostProcessor ParseTemplate(JsonElement e, string where)
    {
        var specials = new Dictionary<string, int[]>(StringComparer.Ordinal);
        if (Get(e, "special_tokens") is JsonElement st)
            foreach (var p in st.EnumerateObject())
                specials[p.Name] = (Get(p.Value, "ids") ?? throw new TokenizerFormatException($"{where}.special_tokens.{p.Name}.ids is missing."))
                    .EnumerateArray().Select(x => x.GetInt32()).ToArray();

        var prefix = new List<int>();
        var suffix = new List<int>();
        bool seenSequence = false;
        foreach (var piece in Items(e, "single", where))
        {
            if (Get(piece, "Sequence") is not null)
            {
                seenSequence = true;
                continue;
            }
            var name = Get(piece, "SpecialToken") is JsonElement sp ? Get(sp, "id")?.GetString() : null;
            if (name is null || !specials.TryGetValue(name, out var ids))
                throw new TokenizerFormatException($"{where}.single: unknown template piece '{piece.GetRawText()}'.");
            (seenSequence ? suffix : prefix).AddRange(ids);
        }
        return new PostProcessor(prefix, suffix);
    }

    private static JsonDocument Parse(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path), JsonOptions);
        }
        catch (JsonException ex)
        {
            throw new TokenizerFormatException($"'{path}' is not valid JSON: {ex.Message}", ex);
        }
    }

    private static JsonDocument? ParseOptional(string path) => File.Exists(path) ? Parse(path) : null;

    private static JsonElement? Get(JsonElement e, string name) =>
        e.ValueKind == JsonValueKind.Object && e.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

    private static bool Flag(JsonElement e, string name) => Get(e, name)?.ValueKind == JsonValueKind.True;

    private static string TypeOf(JsonElement e, string where) =>
        Get(e, "type")?.GetString() ?? throw new TokenizerFormatException($"{where}.type is missing.");

    private static string RequireString(JsonElement e, string name, string where) =>
        Get(e, name)?.GetString() ?? throw new TokenizerFormatException($"{where}.{name} is missing.");

    private static JsonElement.ArrayEnumerator Items(JsonElement e, string name, string where) =>
        (Get(e, name) ?? throw new TokenizerFormatException($"{where}.{name} is missing.")).EnumerateArray();
}
