using System.Globalization;
using System.Text;

namespace LoraSqueeze.Core.Templating;

/// <summary>
/// jinja2's default <c>Undefined</c>: prints as nothing, is false, iterates as empty and has length 0; reading an
/// attribute or item of it, or doing arithmetic with it, is an error naming what was undefined.
/// </summary>
public sealed class JinjaUndefined
{
    internal JinjaUndefined(string name) => Name = name;

    /// <summary>What was looked up, for the error message.</summary>
    public string Name { get; }

    public override string ToString() => "";
}

/// <summary><c>namespace(...)</c>: the one mutable object templates may assign into (<c>{% set ns.x = 1 %}</c>).</summary>
public sealed class JinjaNamespace
{
    public OrderedDictionary<string, object?> Attributes { get; } = [];
}

/// <summary>A function callable from a template (a global such as <c>raise_exception</c>, a macro or a bound method).</summary>
public delegate object? JinjaFunction(List<object?> args, Dictionary<string, object?> kwargs);

/// <summary>
/// Python semantics for template values, as jinja2 inherits them: truthiness, <c>str()</c> and <c>repr()</c>,
/// equality (<c>1 == 1.0 == True</c>), ordering and arithmetic. Values are null (None), <see cref="JinjaUndefined"/>,
/// bool, long, double, string, <see cref="List{T}"/> of values (lists and tuples), <see cref="OrderedDictionary{TKey, TValue}"/>
/// with string keys, <see cref="JinjaNamespace"/>, <see cref="JinjaLoop"/> and <see cref="JinjaFunction"/>.
/// </summary>
public static class JinjaValues
{
    public static bool IsTrue(object? v) => v switch
    {
        null or JinjaUndefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        OrderedDictionary<string, object?> d => d.Count > 0,
        _ => true,
    };

    /// <summary>Python's <c>str(v)</c>; undefined prints as nothing.</summary>
    public static string ToStr(object? v) => v switch
    {
        string s => s,
        null => "None",
        JinjaUndefined => "",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => FormatFloat(d),
        _ => Repr(v),
    };

    /// <summary>Python's <c>repr(v)</c> (strings quoted as Python quotes them).</summary>
    public static string Repr(object? v)
    {
        switch (v)
        {
            case string s:
                return QuoteString(s);
            case List<object?> list:
                return "[" + string.Join(", ", list.Select(Repr)) + "]";
            case OrderedDictionary<string, object?> dict:
                return "{" + string.Join(", ", dict.Select(kv => QuoteString(kv.Key) + ": " + Repr(kv.Value))) + "}";
            case JinjaNamespace ns:
                return "<Namespace " + string.Join(", ", ns.Attributes.Select(kv => kv.Key + "=" + Repr(kv.Value))) + ">";
            case JinjaFunction:
                return "<function>";
            case JinjaLoop:
                return "<LoopContext>";
            default:
                return ToStr(v);
        }
    }

    private static string QuoteString(string s)
    {
        char quote = s.Contains('\'', StringComparison.Ordinal) && !s.Contains('"', StringComparison.Ordinal) ? '"' : '\'';
        var sb = new StringBuilder().Append(quote);
        foreach (char c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                default:
                    if (c == quote) sb.Append('\\').Append(c);
                    else if (c < 0x20 || c == 0x7f) sb.Append(CultureInfo.InvariantCulture, $"\\x{(int)c:x2}");
                    else sb.Append(c);
                    break;
            }
        }
        return sb.Append(quote).ToString();
    }

    /// <summary>
    /// Python's float repr: the shortest round-trip digits (.NET's "R"), written in exponent form when the decimal
    /// exponent is below −4 or at least 16, else positionally with ".0" on integral values.
    /// </summary>
    public static string FormatFloat(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        string sign = d < 0 || (d == 0 && double.IsNegative(d)) ? "-" : "";
        if (d == 0) return sign + "0.0";
        // "R" is d₁.d₂…E±x or plain positional; reduce it to significant digits and the exponent of the first one.
        string r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int e = r.IndexOf('E', StringComparison.Ordinal);
        string mantissa = e >= 0 ? r[..e] : r;
        int shift = e >= 0 ? int.Parse(r[(e + 1)..], CultureInfo.InvariantCulture) : 0;
        int dot = mantissa.IndexOf('.', StringComparison.Ordinal);
        string whole = dot < 0 ? mantissa : mantissa[..dot];
        string all = whole + (dot < 0 ? "" : mantissa[(dot + 1)..]);
        int lead = all.Length - all.TrimStart('0').Length;
        string digits = all[lead..].TrimEnd('0');
        int exponent = whole.Length + shift - lead - 1;
        if (exponent < -4 || exponent >= 16)
        {
            string m = digits.Length > 1 ? digits[0] + "." + digits[1..] : digits;
            return sign + m + "e" + (exponent < 0 ? "-" : "+") + Math.Abs(exponent).ToString("00", CultureInfo.InvariantCulture);
        }
        int point = exponent + 1;   // digits before the decimal point
        if (point <= 0) return sign + "0." + new string('0', -point) + digits;
        if (point >= digits.Length) return sign + digits + new string('0', point - digits.Length) + ".0";
        return sign + digits[..point] + "." + digits[point..];
    }

    public static bool IsNumber(object? v) => v is long or double or bool;

    public static double ToDouble(object? v) => v switch
    {
        long l => l,
        double d => d,
        bool b => b ? 1 : 0,
        _ => throw new JinjaException($"{TypeName(v)} is not a number"),
    };

    /// <summary>Python <c>==</c>.</summary>
    public static new bool Equals(object? a, object? b)
    {
        if (a is null || b is null) return a is null && b is null;
        if (a is JinjaUndefined || b is JinjaUndefined) return a is JinjaUndefined && b is JinjaUndefined;
        if (IsNumber(a) && IsNumber(b))
        {
            if (a is double || b is double) return ToDouble(a) == ToDouble(b);
            return ToLong(a) == ToLong(b);
        }
        if (a is string sa && b is string sb) return string.Equals(sa, sb, StringComparison.Ordinal);
        if (a is List<object?> la && b is List<object?> lb) return la.Count == lb.Count && la.Zip(lb).All(p => Equals(p.First, p.Second));
        if (a is OrderedDictionary<string, object?> da && b is OrderedDictionary<string, object?> db)
            return da.Count == db.Count && da.All(kv => db.TryGetValue(kv.Key, out var w) && Equals(kv.Value, w));
        return ReferenceEquals(a, b);
    }

    /// <summary>Python ordering (<c>&lt;</c>): numbers, strings (by code point), lists element-wise.</summary>
    public static int Compare(object? a, object? b)
    {
        if (IsNumber(a) && IsNumber(b)) return ToDouble(a).CompareTo(ToDouble(b));
        if (a is string sa && b is string sb) return string.CompareOrdinal(sa, sb);
        if (a is List<object?> la && b is List<object?> lb)
        {
            for (int i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                int c = Compare(la[i], lb[i]);
                if (c != 0) return c;
            }
            return la.Count.CompareTo(lb.Count);
        }
        throw new JinjaException($"'<' is not supported between {TypeName(a)} and {TypeName(b)}");
    }

    public static long ToLong(object? v) => v switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        double d => (long)d,
        _ => throw new JinjaException($"{TypeName(v)} is not an integer"),
    };

    /// <summary>Python <c>in</c>: substring, list member, dict key.</summary>
    public static bool Contains(object? container, object? item) => container switch
    {
        string s => item is string t ? s.Contains(t, StringComparison.Ordinal) : throw new JinjaException($"'in <string>' requires a string, not {TypeName(item)}"),
        List<object?> l => l.Any(x => Equals(x, item)),
        OrderedDictionary<string, object?> d => item is string k && d.ContainsKey(k),
        JinjaUndefined u => throw new JinjaException($"'{u.Name}' is undefined"),
        _ => throw new JinjaException($"{TypeName(container)} is not a container"),
    };

    /// <summary>Items of an iterable: list items, string characters, dict keys; undefined iterates as empty.</summary>
    public static List<object?> Iterate(object? v) => v switch
    {
        List<object?> l => l,
        OrderedDictionary<string, object?> d => d.Keys.Cast<object?>().ToList(),
        string s => EnumerateChars(s),
        JinjaUndefined => [],
        JinjaNamespace ns => ns.Attributes.Keys.Cast<object?>().ToList(),
        _ => throw new JinjaException($"{TypeName(v)} is not iterable"),
    };

    /// <summary>Python iterates a string by code point: a surrogate pair is one character.</summary>
    internal static List<object?> EnumerateChars(string s) => s.EnumerateRunes().Select(r => (object?)r.ToString()).ToList();

    public static long Length(object? v) => v switch
    {
        string s => s.EnumerateRunes().Count(),
        List<object?> l => l.Count,
        OrderedDictionary<string, object?> d => d.Count,
        JinjaUndefined => 0,
        JinjaNamespace ns => ns.Attributes.Count,
        _ => throw new JinjaException($"{TypeName(v)} has no length"),
    };

    public static string TypeName(object? v) => v switch
    {
        null => "none",
        JinjaUndefined u => $"undefined '{u.Name}'",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        OrderedDictionary<string, object?> => "dict",
        JinjaNamespace => "namespace",
        JinjaFunction => "function",
        _ => v.GetType().Name,
    };
}
