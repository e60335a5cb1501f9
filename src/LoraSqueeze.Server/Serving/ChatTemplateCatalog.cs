using System.Collections.Concurrent;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Server.Serving;

/// <summary>
/// Which chat template renders a conversation: the adapter folder's own (<c>chat_template.jinja</c> or its
/// <c>tokenizer_config.json</c>'s <c>chat_template</c>) when it has one, as LoRAX does, else the base model's. Adapter
/// templates are parsed once per folder and file change (path, size, modification time), not per request.
/// </summary>
public sealed class ChatTemplateCatalog(ChatTemplate? baseTemplate, AdapterManager adapters)
{
    private readonly ConcurrentDictionary<string, (string Stamp, ChatTemplate? Template)> _adapterTemplates = new(StringComparer.Ordinal);

    public ChatTemplate? Base => baseTemplate;

    /// <summary>The template for <paramref name="adapterId"/> (null: the base); null when neither has one.</summary>
    public ChatTemplate? For(string? adapterId)
    {
        if (adapterId is null) return baseTemplate;
        var dir = adapters.SourceDirectory(adapterId);
        if (dir is null) return baseTemplate;
        string stamp = Stamp(dir);
        if (_adapterTemplates.TryGetValue(dir, out var cached) && cached.Stamp == stamp) return cached.Template ?? baseTemplate;
        var template = ChatTemplate.FromDirectory(dir, baseTemplate);
        _adapterTemplates[dir] = (stamp, template);
        return template ?? baseTemplate;
    }

    private static string Stamp(string dir)
    {
        var parts = new List<string>(2);
        foreach (var name in (string[])["chat_template.jinja", "tokenizer_config.json"])
        {
            var f = new FileInfo(Path.Combine(dir, name));
            parts.Add(f.Exists ? $"{f.Length}:{f.LastWriteTimeUtc.Ticks}" : "-");
        }
        return string.Join('|', parts);
    }
}
