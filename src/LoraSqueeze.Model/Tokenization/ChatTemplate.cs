using System.Text.Json;
using LoraSqueeze.Core.Templating;

namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// A model's chat template: the Jinja text that turns a conversation into the prompt the model was tuned on, rendered
/// as transformers' <c>apply_chat_template</c> does (tokenization_utils_base.py): jinja2 with trim_blocks and
/// lstrip_blocks, the variables <c>messages</c>, <c>tools</c> and <c>documents</c> (none when absent),
/// <c>add_generation_prompt</c>, the special tokens by name (<c>bos_token</c>, <c>eos_token</c>, …) and any extra
/// keyword arguments (<c>enable_thinking</c>, <c>date_string</c>, …). The rendered text already holds BOS when the
/// template writes it, so it is encoded without the post-processor's special tokens.
/// </summary>
public sealed class ChatTemplate
{
    private static readonly JsonDocumentOptions JsonOptions = new() { AllowTrailingCommas = true, CommentHandling = JsonCommentHandling.Skip };
    private readonly Dictionary<string, JinjaTemplate> _templates;
    private readonly Dictionary<string, object?> _specialTokens;

    private ChatTemplate(Dictionary<string, JinjaTemplate> templates, Dictionary<string, object?> specialTokens, string source)
    {
        _templates = templates;
        _specialTokens = specialTokens;
        Source = source;
    }

    /// <summary>Where the template was read from (for messages).</summary>
    public string Source { get; }

    /// <summary>Names of the templates (a single template is "default").</summary>
    public IReadOnlyCollection<string> Names => _templates.Keys;

    /// <summary>
    /// The chat template of a model or adapter folder: <c>chat_template.jinja</c> when present (transformers ≥ 4.43
    /// saves it there), else <c>tokenizer_config.json</c>'s <c>chat_template</c> (a string, or a list of
    /// <c>{name, template}</c>). Null when the folder has neither. A template that does not parse is an error naming
    /// the file and line. Special-token values come from that folder's <c>tokenizer_config.json</c>, and those it lacks
    /// from <paramref name="fallbackSpecialTokens"/> (an adapter's template with the base model's tokens).
    /// </summary>
    public static ChatTemplate? FromDirectory(string directory, ChatTemplate? fallbackSpecialTokens = null)
    {
        string configPath = Path.Combine(directory, "tokenizer_config.json");
        string jinjaPath = Path.Combine(directory, "chat_template.jinja");
        JsonDocument? config = null;
        try
        {
            if (File.Exists(configPath))
            {
                try
                {
                    config = JsonDocument.Parse(File.ReadAllText(configPath), JsonOptions);
                }
                catch (JsonException e)
                {
                    throw new TokenizerFormatException($"{configPath}: {e.Message}");
                }
            }
            // The folder's own special tokens over the fallback's (an adapter's config often holds only its template).
            var specials = new Dictionary<string, object?>(fallbackSpecialTokens?._specialTokens ?? [], StringComparer.Ordinal);
            if (config is not null) foreach (var (k, v) in SpecialTokens(config.RootElement)) specials[k] = v;
            if (File.Exists(jinjaPath))
                return new ChatTemplate(new() { ["default"] = Parse(File.ReadAllText(jinjaPath), jinjaPath) }, specials, jinjaPath);
            if (config is null || !config.RootElement.TryGetProperty("chat_template", out var t) || t.ValueKind == JsonValueKind.Null) return null;
            var templates = new Dictionary<string, JinjaTemplate>(StringComparer.Ordinal);
            if (t.ValueKind == JsonValueKind.String)
            {
                templates["default"] = Parse(t.GetString()!, configPath);
            }
            else if (t.ValueKind == JsonValueKind.Array)
            {
                foreach (var entry in t.EnumerateArray())
                {
                    if (entry.ValueKind != JsonValueKind.Object || !entry.TryGetProperty("name", out var n) || n.ValueKind != JsonValueKind.String
                        || !entry.TryGetProperty("template", out var body) || body.ValueKind != JsonValueKind.String)
                        throw new TokenizerFormatException($"{configPath}: chat_template: each entry of the list must be {{\"name\": string, \"template\": string}}");
                    templates[n.GetString()!] = Parse(body.GetString()!, $"{configPath} (template '{n.GetString()}')");
                }
                if (templates.Count == 0) throw new TokenizerFormatException($"{configPath}: chat_template is an empty list");
            }
            else
            {
                throw new TokenizerFormatException($"{configPath}: chat_template must be a string or a list of named templates");
            }
            return new ChatTemplate(templates, specials, configPath);
        }
        finally
        {
            config?.Dispose();
        }
    }

    /// <summary>A template from its text (tests, tools); <paramref name="specialTokens"/> by name, e.g. bos_token.</summary>
    public static ChatTemplate FromText(string template, IReadOnlyDictionary<string, string>? specialTokens = null) =>
        new(new() { ["default"] = Parse(template, "chat template") },
            specialTokens?.ToDictionary(kv => kv.Key, kv => (object?)kv.Value, StringComparer.Ordinal) ?? [], "chat template");

    private static JinjaTemplate Parse(string source, string where)
    {
        try
        {
            return JinjaTemplate.Parse(source, trimBlocks: true, lstripBlocks: true);
        }
        catch (JinjaException e)
        {
            throw new TokenizerFormatException($"{where}: the chat template does not parse: {e.Message}");
        }
    }

    private static Dictionary<string, object?> SpecialTokens(JsonElement config)
    {
        var specials = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var name in (string[])["bos_token", "eos_token", "unk_token", "pad_token", "sep_token", "cls_token", "mask_token"])
        {
            if (!config.TryGetProperty(name, out var v)) continue;
            string? text = v.ValueKind switch
            {
                JsonValueKind.String => v.GetString(),
                JsonValueKind.Object when v.TryGetProperty("content", out var c) && c.ValueKind == JsonValueKind.String => c.GetString(),
                _ => null,
            };
            if (text is not null) specials[name] = text;
        }
        return specials;
    }

    /// <summary>
    /// Renders a conversation. <paramref name="messages"/> are template values (<see cref="JinjaJson.FromJson"/> of
    /// the request's messages); <paramref name="tools"/> the request's tools or null. The template is
    /// <paramref name="name"/>, else "tool_use" when tools are given and it exists, else "default" (transformers'
    /// choice). A template's <c>raise_exception</c> (e.g. roles that do not alternate) is a <see cref="ChatTemplateException"/>
    /// with the template's message.
    /// </summary>
    public string Render(IReadOnlyList<object?> messages, bool addGenerationPrompt, object? tools = null,
        IReadOnlyDictionary<string, object?>? extra = null, string? name = null, Func<DateTime>? now = null)
    {
        string chosen = name ?? (tools is not null && _templates.ContainsKey("tool_use") ? "tool_use" : "default");
        if (!_templates.TryGetValue(chosen, out var template))
        {
            if (name is null && _templates.Count == 1) template = _templates.Values.First();
            else throw new ChatTemplateException($"the model has no chat template named '{chosen}' (it has: {string.Join(", ", _templates.Keys)})");
        }
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (k, v) in _specialTokens) variables[k] = v;
        if (extra is not null) foreach (var (k, v) in extra) variables[k] = v;
        variables["messages"] = messages as List<object?> ?? messages.ToList();
        variables["tools"] = tools;
        variables["documents"] = extra?.GetValueOrDefault("documents");
        variables["add_generation_prompt"] = addGenerationPrompt;
        try
        {
            return template.Render(variables, now);
        }
        catch (JinjaException e)
        {
            throw new ChatTemplateException(e.Message);
        }
    }
}

