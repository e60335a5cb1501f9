using System.Globalization;
using System.Text;
using System.Text.Json;

namespace LoraSqueeze.Core.Templating;

/// <summary>
/// JSON in and out of template values. Out: the <c>tojson</c> filter as Hugging Face defines it for chat templates —
/// Python's <c>json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)</c>, so
/// separators are <c>", "</c> and <c>": "</c> (<c>","</c> with an indent) and nothing is HTML-escaped (jinja2's own
/// tojson escapes &lt; &gt; &amp; ', which transformers replaces). In: request JSON (messages, tools) as values.
/// </summary>
public static class JinjaJson
{
    public static string Dumps(object? value, long? indent = null, string? itemSeparator = null, string? keySeparator = null, bool sortKeys = false)
    {
        var sb = new StringBuilder();
        Write(sb, value, indent, itemSeparator ?? (indent is null ? ", " : ","), keySeparator ?? ": ", sortKeys, 0);
        return sb.ToString();
    }

    private static void Write(StringBuilder sb, object? v, long? indent, string itemSep, string keySep, bool sortKeys, int level)
    {
        switch (v)
        {
            case null: sb.Append("null"); break;
            case bool b: sb.Append(b ? "true" : "false"); break;
            case long l: sb.Append(l.ToString(CultureInfo.InvariantCulture)); break;
            case double d:
                sb.Append(double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : JinjaValues.FormatFloat(d));
                break;
            case string s: WriteString(sb, s); break;
            case List<object?> list:
                WriteContainer(sb, '[', ']', list.Count, indent, itemSep, level, i => Write(sb, list[i], indent, itemSep, keySep, sortKeys, level + 1));
                break;
            case OrderedDictionary<string, object?> dict:
            {
                var entries = sortKeys ? dict.OrderBy(kv => kv.Key, StringComparer.Ordinal).ToList() : dict.ToList();
                WriteContainer(sb, '{', '}', entries.Count, indent, itemSep, level, i =>
                {
                    WriteString(sb, entries[i].Key);
                    sb.Append(keySep);
                    Write(sb, entries[i].Value, indent, itemSep, keySep, sortKeys, level + 1);
                });
                break;
            }
            case JinjaNamespace ns:
                Write(sb, ns.Attributes, indent, itemSep, keySep, sortKeys, level);
                break;
            case JinjaUndefined u:
                throw new JinjaException($"'{u.Name}' is undefined (tojson)");
            default:
                throw new JinjaException($"Object of type {JinjaValues.TypeName(v)} is not JSON serializable");
        }
    }

    private static void WriteContainer(StringBuilder sb, char open, char close, int count, long? indent, string itemSep, int level, Action<int> item)
    {
        sb.Append(open);
        if (count == 0)
        {
            sb.Append(close);
            return;
        }
        for (int i = 0; i < count; i++)
        {
            if (i > 0) sb.Append(itemSep);
            if (indent is long n) sb.Append('\n').Append(' ', (int)(n * (level + 1)));
            item(i);
        }
        if (indent is long m) sb.Append('\n').Append(' ', (int)(m * level));
        sb.Append(close);
    }

    private static void WriteString(StringBuilder sb, string s)
    {
        sb.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (c < 0x20) sb.Append(CultureInfo.InvariantCulture, $"\\u{(int)c:x4}");
                    else sb.Append(c);
                    break;
            }
        }
        sb.Append('"');
    }

    /// <summary>A JSON value as a template value: objects keep their key order; integers are long, other numbers double.</summary>
    public static object? FromJson(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => e.EnumerateObject().Aggregate(new OrderedDictionary<string, object?>(), (d, p) =>
        {
            d[p.Name] = FromJson(p.Value);
            return d;
        }),
        JsonValueKind.Array => e.EnumerateArray().Select(FromJson).ToList(),
        JsonValueKind.String => e.GetString(),
        JsonValueKind.Number => e.TryGetInt64(out long l) ? l : e.GetDouble(),
        JsonValueKind.True => true,
        JsonValueKind.False => false,
        _ => null,
    };
}
