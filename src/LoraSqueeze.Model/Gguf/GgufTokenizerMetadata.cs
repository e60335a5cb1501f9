using System.Text.Json;
using LoraSqueeze.Model.Config;

namespace LoraSqueeze.Model.Gguf;

/// <summary>
/// The tokenizer keys of a GGUF model (llama.cpp's <c>LLM_KV_TOKENIZER_*</c>), from a byte-level BPE
/// <c>tokenizer.json</c>, as convert_hf_to_gguf.py's <c>_set_vocab_gpt2</c> writes them: model "gpt2", every token with
/// its type (normal 1, control 3 for special added tokens, user-defined 4, unused 5 for ids without a token), the
/// merges, and the pre-tokenizer name llama.cpp recognises for the split regex (llama-bpe, qwen2, gpt-2). Also the BOS/EOS
/// ids, whether BOS is prepended, and the chat template.
/// </summary>
internal static class GgufTokenizerMetadata
{
    /// <summary>Split regexes of the pre-tokenizers llama.cpp knows by name (llama-vocab.cpp), keyed by that name.</summary>
    private static readonly (string Name, string Regex)[] KnownSplits =
    [
        ("llama-bpe", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
        ("qwen2", "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
    ];

    public static void Add(GgufWriter w, string modelDir, ModelConfig config)
    {
        var path = Path.Combine(modelDir, "tokenizer.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: a GGUF model needs the tokenizer; the folder has no tokenizer.json", path);
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var root = doc.RootElement;
        var model = root.GetProperty("model");
        if (!model.TryGetProperty("type", out var type) || type.GetString() != "BPE")
            throw new TokenizerExportException($"{path}: only byte-level BPE tokenizers are exported to GGUF (model.type is '{(model.TryGetProperty("type", out var t) ? t.GetString() : "missing")}')");

        int vocab = config.VocabSize;
        var tokens = new string?[vocab];
        var types = new int[vocab];
        Array.Fill(types, 1);
        foreach (var entry in model.GetProperty("vocab").EnumerateObject())
        {
            int id = entry.Value.GetInt32();
            if (id < vocab) tokens[id] = entry.Name;
        }
        if (root.TryGetProperty("added_tokens", out var added))
        {
            foreach (var a in added.EnumerateArray())
            {
                int id = a.GetProperty("id").GetInt32();
                if (id >= vocab) continue;
                tokens[id] = a.GetProperty("content").GetString();
                types[id] = a.TryGetProperty("special", out var sp) && sp.GetBoolean() ? 3 : 4;
            }
        }
        for (int i = 0; i < vocab; i++)
        {
            if (tokens[i] is not null) continue;
            tokens[i] = $"[PAD{i}]";   // ids the embedding has but the tokenizer never produces (convert_hf_to_gguf does the same)
            types[i] = 5;
        }
        var merges = new List<string>();
        if (model.TryGetProperty("merges", out var m))
            foreach (var merge in m.EnumerateArray())
                merges.Add(merge.ValueKind == JsonValueKind.String ? merge.GetString()! : string.Join(' ', merge.EnumerateArray().Select(x => x.GetString())));

        w.Add("tokenizer.ggml.model", "gpt2");
        w.Add("tokenizer.ggml.pre", PreTokenizerName(root));
        w.AddArray("tokenizer.ggml.tokens", tokens!);
        w.AddArray("tokenizer.ggml.token_type", types);
        w.AddArray("tokenizer.ggml.merges", merges);
        if (config.BosTokenId is int bos) w.Add("tokenizer.ggml.bos_token_id", (uint)bos);
        if (config.EosTokenIds.Count > 0) w.Add("tokenizer.ggml.eos_token_id", (uint)config.EosTokenIds[0]);
        var tokenizerConfig = Path.Combine(modelDir, "tokenizer_config.json");
        bool? addBos = null;
        if (File.Exists(tokenizerConfig))
        {
            using var tc = JsonDocument.Parse(File.ReadAllText(tokenizerConfig));
            if (tc.RootElement.TryGetProperty("add_bos_token", out var ab) && ab.ValueKind is JsonValueKind.True or JsonValueKind.False) addBos = ab.GetBoolean();
            if (tc.RootElement.TryGetProperty("chat_template", out var ct) && ct.ValueKind == JsonValueKind.String) w.Add("tokenizer.chat_template", ct.GetString()!);
        }
        // Without tokenizer_config's flag: BOS is prepended when the post-processor's single template starts with a special token.
        addBos ??= root.TryGetProperty("post_processor", out var pp) && pp.ValueKind == JsonValueKind.Object
            && pp.TryGetProperty("single", out var single) && single.GetArrayLength() > 0 && single[0].TryGetProperty("SpecialToken", out _);
        w.Add("tokenizer.ggml.add_bos_token", addBos.Value);
    }

    /// <summary>The llama.cpp pre-tokenizer whose split regex the tokenizer uses; refused when llama.cpp knows none.</summary>
    private static string PreTokenizerName(JsonElement root)
    {
        var regexes = new List<string>();
        bool byteLevelWithRegex = false;
        void Visit(JsonElement e)
        {
            if (e.ValueKind != JsonValueKind.Object) return;
            var kind = e.TryGetProperty("type", out var t) ? t.GetString() : null;
            if (kind == "Sequence" && e.TryGetProperty("pretokenizers", out var list))
                foreach (var x in list.EnumerateArray()) Visit(x);
            else if (kind == "Split" && e.TryGetProperty("pattern", out var p) && p.TryGetProperty("Regex", out var r))
                regexes.Add(r.GetString()!);
            else if (kind == "ByteLevel" && (!e.TryGetProperty("use_regex", out var u) || u.GetBoolean()))
                byteLevelWithRegex = true;
        }
        if (root.TryGetProperty("pre_tokenizer", out var pre)) Visit(pre);
        if (regexes.Count == 0 && byteLevelWithRegex) return "gpt-2";   // ByteLevel's own split is GPT-2's regex
        if (regexes.Count == 1)
            foreach (var (name, regex) in KnownSplits)
                if (regexes[0] == regex) return name;
        throw new TokenizerExportException(
            $"the tokenizer's pre-tokenizer split ({(regexes.Count == 0 ? "none" : string.Join(" | ", regexes))}) is none of those llama.cpp knows by name ({string.Join(", ", KnownSplits.Select(k => k.Name))}, gpt-2); llama.cpp would tokenize text differently");
    }
}
