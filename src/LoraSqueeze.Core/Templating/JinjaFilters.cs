using System.Globalization;
using System.Text;

namespace LoraSqueeze.Core.Templating;

/// <summary>jinja2's built-in filters that chat templates use (jinja2/filters.py), with Hugging Face's <c>tojson</c>.</summary>
internal static class JinjaFilters
{
    public static object? Apply(string name, object? v, List<object?> args, Dictionary<string, object?> kwargs, int line)
    {
        object? Opt(int i, string key, object? fallback) => i < args.Count ? args[i] : kwargs.TryGetValue(key, out var k) ? k : fallback;
        switch (name)
        {
            case "trim":
                return JinjaMethods.Strip(Str(v, name, line), Opt(0, "chars", null) is { } chars ? [chars] : [], true, true);
            case "length" or "count":
                return JinjaValues.Length(v);
            case "first":
            {
                var items = JinjaValues.Iterate(v);
                return items.Count > 0 ? items[0] : new JinjaUndefined("first of an empty sequence");
            }
            case "last":
            {
                var items = JinjaValues.Iterate(v);
                return items.Count > 0 ? items[^1] : new JinjaUndefined("last of an empty sequence");
            }
            case "join":
            {
                string sep = JinjaValues.ToStr(Opt(0, "d", ""));
                var items = JinjaValues.Iterate(v);
                if (Opt(1, "attribute", null) is { } attr) items = items.Select(x => AttributePath(x, attr, line)).ToList();
                return string.Join(sep, items.Select(JinjaValues.ToStr));
            }
            case "default" or "d":
            {
                bool boolean = JinjaValues.IsTrue(Opt(1, "boolean", false));
                bool missing = v is JinjaUndefined || (boolean && !JinjaValues.IsTrue(v));
                return missing ? Opt(0, "default_value", "") : v;
            }
            case "upper": return Str(v, name, line).ToUpperInvariant();
            case "lower": return Str(v, name, line).ToLowerInvariant();
            case "title": return JinjaMethods.Title(Str(v, name, line));
            case "capitalize":
            {
                string s = Str(v, name, line);
                return s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();
            }
            case "replace":
                return JinjaMethods.Replace(JinjaValues.ToStr(v), JinjaValues.ToStr(Opt(0, "old", "")), JinjaValues.ToStr(Opt(1, "new", "")),
                    Opt(2, "count", null) is { } c ? JinjaValues.ToLong(c) : -1);
            case "list": return v is string s2 ? JinjaValues.EnumerateChars(s2) : JinjaValues.Iterate(v).ToList();
            case "string": return JinjaValues.ToStr(v);
            case "safe": return v;
            case "escape" or "e": return Escape(JinjaValues.ToStr(v));
            case "int": return ToInt(v, Opt(0, "default", 0L));
            case "float": return ToFloat(v, Opt(0, "default", 0.0));
            case "abs": return v switch { long l => (object)Math.Abs(l), double d => Math.Abs(d), _ => throw Bad(name, v, line) };
            case "round":
            {
                int precision = (int)JinjaValues.ToLong(Opt(0, "precision", 0L));
                string method = JinjaValues.ToStr(Opt(1, "method", "common"));
                double x = JinjaValues.ToDouble(v);
                double scale = Math.Pow(10, precision);
                return method switch
                {
                    "ceil" => Math.Ceiling(x * scale) / scale,
                    "floor" => Math.Floor(x * scale) / scale,
                    _ => Math.Round(x, precision, MidpointRounding.AwayFromZero),
                };
            }
            case "selectattr" or "rejectattr":
            {
                if (args.Count == 0) throw new JinjaException($"line {line}: {name} needs an attribute name");
                string attr = JinjaValues.ToStr(args[0]);
                bool keep = name == "selectattr";
                return JinjaValues.Iterate(v).Where(x => Check(AttributePath(x, attr, line), args.Skip(1).ToList(), line) == keep).ToList();
            }
            case "select" or "reject":
            {
                bool keep = name == "select";
                return JinjaValues.Iterate(v).Where(x => Check(x, args, line) == keep).ToList();
            }
            case "map":
            {
                var items = JinjaValues.Iterate(v);
                if (kwargs.TryGetValue("attribute", out var attr))
                {
                    var fallback = kwargs.GetValueOrDefault("default");
                    return items.Select(x =>
                    {
                        var r = AttributePath(x, JinjaValues.ToStr(attr), line);
                        return r is JinjaUndefined && kwargs.ContainsKey("default") ? fallback : r;
                    }).ToList();
                }
                if (args.Count == 0) throw new JinjaException($"line {line}: map needs a filter name or attribute=");
                string filter = JinjaValues.ToStr(args[0]);
                var rest = args.Skip(1).ToList();
                return items.Select(x => Apply(filter, x, rest, [], line)).ToList();
            }
            case "items":
                return v switch
                {
                    OrderedDictionary<string, object?> d => d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
                    JinjaUndefined => new List<object?>(),
                    _ => throw Bad(name, v, line),
                };
            case "dictsort":
            {
                if (v is not OrderedDictionary<string, object?> d) throw Bad(name, v, line);
                bool caseSensitive = JinjaValues.IsTrue(Opt(0, "case_sensitive", false));
                bool byValue = JinjaValues.ToStr(Opt(1, "by", "key")) == "value";
                bool reverse = JinjaValues.IsTrue(Opt(2, "reverse", false));
                var pairs = d.Select(kv => new List<object?> { kv.Key, kv.Value }).ToList();
                pairs.Sort((a, b) => Order(byValue ? a[1] : a[0], byValue ? b[1] : b[0], caseSensitive));
                if (reverse) pairs.Reverse();
                return pairs.Cast<object?>().ToList();
            }
            case "unique":
            {
                bool caseSensitive = JinjaValues.IsTrue(Opt(0, "case_sensitive", false));
                var attr = Opt(1, "attribute", null);
                var seen = new List<object?>();
                var result = new List<object?>();
                foreach (var x in JinjaValues.Iterate(v))
                {
                    var key = attr is null ? x : AttributePath(x, JinjaValues.ToStr(attr), line);
                    if (!caseSensitive && key is string ks) key = ks.ToLowerInvariant();
                    if (seen.Any(s => JinjaValues.Equals(s, key))) continue;
                    seen.Add(key);
                    result.Add(x);
                }
                return result;
            }
            case "reverse":
                return v is string rs ? string.Concat(JinjaValues.EnumerateChars(rs).Select(c => (string)c!).Reverse()) : Enumerable.Reverse(JinjaValues.Iterate(v)).ToList();
            case "sort":
            {
                bool reverse = JinjaValues.IsTrue(Opt(0, "reverse", false));
                bool caseSensitive = JinjaValues.IsTrue(Opt(1, "case_sensitive", false));
                var attr = Opt(2, "attribute", null);
                var items = JinjaValues.Iterate(v).ToList();
                object? Key(object? x) => attr is null ? x : AttributePath(x, JinjaValues.ToStr(attr), line);
                var sorted = items.Select((x, i) => (x, i)).ToList();
                // Stable, as Python's sort is.
                sorted.Sort((a, b) => Order(Key(a.x), Key(b.x), caseSensitive) is var order && order != 0 ? order : a.i.CompareTo(b.i));
                var result = sorted.Select(p => p.x).ToList();
                if (reverse) result.Reverse();
                return result;
            }
            case "min" or "max":
            {
                var items = JinjaValues.Iterate(v);
                if (items.Count == 0) return new JinjaUndefined($"{name} of an empty sequence");
                var best = items[0];
                foreach (var x in items.Skip(1))
                {
                    int order = Order(x, best, false);
                    if (name == "min" ? order < 0 : order > 0) best = x;
                }
                return best;
            }
            case "sum":
            {
                var attr = Opt(0, "attribute", null);
                object? total = Opt(1, "start", 0L);
                foreach (var x in JinjaValues.Iterate(v)) total = JinjaArithmetic.Apply("+", total, attr is null ? x : AttributePath(x, JinjaValues.ToStr(attr), line), line);
                return total;
            }
            case "indent":
            {
                long width = JinjaValues.ToLong(Opt(0, "width", 4L));
                bool first = JinjaValues.IsTrue(Opt(1, "first", false));
                bool blank = JinjaValues.IsTrue(Opt(2, "blank", false));
                string pad = new(' ', (int)width);
                var lines = JinjaValues.ToStr(v).Split('\n');
                var sb = new StringBuilder();
                for (int i = 0; i < lines.Length; i++)
                {
                    if (i > 0) sb.Append('\n');
                    bool indentThis = (i > 0 || first) && (blank || lines[i].Trim().Length > 0);
                    if (indentThis) sb.Append(pad);
                    sb.Append(lines[i]);
                }
                return sb.ToString();
            }
            case "center":
            {
                string s = JinjaValues.ToStr(v);
                int width = (int)JinjaValues.ToLong(Opt(0, "width", 80L));
                if (s.Length >= width) return s;
                int left = (width - s.Length) / 2 + ((width - s.Length) % 2 & width % 2);
                return new string(' ', left) + s + new string(' ', width - s.Length - left);
            }
            case "wordcount":
                return (long)JinjaValues.ToStr(v).Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).Length;
            case "tojson":
            {
                var indent = Opt(0, "indent", null);
                string? itemSep = null, keySep = null;
                if (kwargs.TryGetValue("separators", out var seps) && seps is List<object?> { Count: 2 } pair)
                {
                    itemSep = JinjaValues.ToStr(pair[0]);
                    keySep = JinjaValues.ToStr(pair[1]);
                }
                return JinjaJson.Dumps(v, indent is null ? null : JinjaValues.ToLong(indent), itemSep, keySep, JinjaValues.IsTrue(kwargs.GetValueOrDefault("sort_keys")));
            }
            case "format":
                return PercentFormat(Str(v, name, line), args, line);
            case "attr":
                return JinjaInterpreter.GetAttribute(v, JinjaValues.ToStr(Opt(0, "name", "")), line);
            case "batch":
            {
                long size = JinjaValues.ToLong(Opt(0, "linecount", 1L));
                if (size < 1) throw new JinjaException($"line {line}: batch size must be ≥ 1");
                return JinjaValues.Iterate(v).Chunk((int)size).Select(c => (object?)c.ToList()).ToList();
            }
            default:
                throw new JinjaException($"line {line}: unknown filter '{name}'");
        }
    }

    /// <summary>A test named by args[0] (with the rest as its arguments) on <paramref name="value"/>; no name: truthiness.</summary>
    private static bool Check(object? value, List<object?> args, int line) =>
        args.Count == 0 ? JinjaValues.IsTrue(value) : JinjaPredicates.Apply(JinjaValues.ToStr(args[0]), value, args.Skip(1).ToList(), line);

    /// <summary>jinja2's <c>make_attrgetter</c>: "a.b.0" looks up a, then b, then item 0.</summary>
    private static object? AttributePath(object? x, object? path, int line)
    {
        foreach (var part in JinjaValues.ToStr(path).Split('.'))
        {
            x = long.TryParse(part, NumberStyles.Integer, CultureInfo.InvariantCulture, out long i)
                ? JinjaInterpreter.GetItem(x, i, line)
                : JinjaInterpreter.GetItem(x, part, line);
            if (x is JinjaUndefined) return x;
        }
        return x;
    }

    private static int Order(object? a, object? b, bool caseSensitive)
    {
        if (!caseSensitive && a is string sa && b is string sb) return string.CompareOrdinal(sa.ToLowerInvariant(), sb.ToLowerInvariant());
        return JinjaValues.Compare(a, b);
    }

    private static string Str(object? v, string filter, int line) => v switch
    {
        string s => s,
        JinjaUndefined => "",
        _ => JinjaValues.ToStr(v),
    };

    private static JinjaException Bad(string filter, object? v, int line) => new($"line {line}: filter '{filter}' cannot take {JinjaValues.TypeName(v)}");

    private static object? ToInt(object? v, object? fallback) => v switch
    {
        long l => l,
        bool b => b ? 1L : 0L,
        double d => (long)d,
        string s when long.TryParse(s.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out long l) => l,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => (long)d,
        _ => fallback,
    };

    private static object? ToFloat(object? v, object? fallback) => v switch
    {
        long l => (double)l,
        bool b => b ? 1.0 : 0.0,
        double d => d,
        string s when double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) => d,
        _ => fallback,
    };

    /// <summary>markupsafe's escape: &amp; &lt; &gt; " '.</summary>
    private static string Escape(string s) => s.Replace("&", "&amp;", StringComparison.Ordinal).Replace("<", "&lt;", StringComparison.Ordinal)
        .Replace(">", "&gt;", StringComparison.Ordinal).Replace("\"", "&#34;", StringComparison.Ordinal).Replace("'", "&#39;", StringComparison.Ordinal);

    /// <summary>Python's <c>format % args</c> for %s, %r, %d, %i, %f (with precision) and %%.</summary>
    internal static string PercentFormat(string format, List<object?> args, int line)
    {
        var sb = new StringBuilder();
        int next = 0;
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%')
            {
                sb.Append(format[i]);
                continue;
            }
            int j = i + 1;
            while (j < format.Length && (char.IsAsciiDigit(format[j]) || format[j] == '.')) j++;
            if (j >= format.Length) throw new JinjaException($"line {line}: incomplete format");
            string spec = format[(i + 1)..j];
            char conv = format[j];
            i = j;
            if (conv == '%')
            {
                sb.Append('%');
                continue;
            }
            if (next >= args.Count) throw new JinjaException($"line {line}: not enough arguments for format string");
            var a = args[next++];
            sb.Append(conv switch
            {
                's' => JinjaValues.ToStr(a),
                'r' => JinjaValues.Repr(a),
                'd' or 'i' => JinjaValues.ToLong(a is double d ? (long)d : a).ToString(CultureInfo.InvariantCulture),
                'f' => JinjaValues.ToDouble(a).ToString("F" + (spec.Contains('.', StringComparison.Ordinal) ? spec[(spec.IndexOf('.', StringComparison.Ordinal) + 1)..] : "6"), CultureInfo.InvariantCulture),
                _ => throw new JinjaException($"line {line}: unsupported format character '{conv}'"),
            });
        }
        return sb.ToString();
    }
}
