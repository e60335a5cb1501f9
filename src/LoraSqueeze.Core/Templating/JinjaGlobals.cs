using System.Globalization;

namespace LoraSqueeze.Core.Templating;

/// <summary>
/// Functions every template sees: jinja2's <c>range</c>, <c>namespace</c>, <c>dict</c>, <c>joiner</c>, and the two
/// Hugging Face adds for chat templates (transformers <c>_compile_jinja_template</c>): <c>raise_exception</c> and
/// <c>strftime_now</c>.
/// </summary>
internal static class JinjaGlobals
{
    /// <summary>The globals of one render; <paramref name="now"/> is the clock <c>strftime_now</c> reads.</summary>
    public static IReadOnlyList<(string Name, JinjaFunction Function)> Create(Func<DateTime> now) =>
    [
        ("range", Range),
        ("namespace", Namespace),
        ("dict", (args, kwargs) =>
        {
            var d = new OrderedDictionary<string, object?>();
            if (args.Count > 0 && args[0] is OrderedDictionary<string, object?> from) foreach (var kv in from) d[kv.Key] = kv.Value;
            foreach (var kv in kwargs) d[kv.Key] = kv.Value;
            return d;
        }),
        ("raise_exception", (args, _) => throw new JinjaException(args.Count > 0 ? JinjaValues.ToStr(args[0]) : "raise_exception called")),
        ("strftime_now", (args, _) => StrftimeNow(now(), args.Count > 0 ? JinjaValues.ToStr(args[0]) : "%Y-%m-%d")),
        ("joiner", (args, _) =>
        {
            string sep = args.Count > 0 ? JinjaValues.ToStr(args[0]) : ", ";
            bool used = false;
            return new JinjaFunction((_, _) =>
            {
                if (used) return sep;
                used = true;
                return "";
            });
        }),
    ];

    private static List<object?> Range(List<object?> args, Dictionary<string, object?> kwargs)
    {
        long start = 0, stop, step = 1;
        switch (args.Count)
        {
            case 1: stop = JinjaValues.ToLong(args[0]); break;
            case 2: start = JinjaValues.ToLong(args[0]); stop = JinjaValues.ToLong(args[1]); break;
            case 3: start = JinjaValues.ToLong(args[0]); stop = JinjaValues.ToLong(args[1]); step = JinjaValues.ToLong(args[2]); break;
            default: throw new JinjaException("range takes 1 to 3 arguments");
        }
        if (step == 0) throw new JinjaException("range() step must not be zero");
        var list = new List<object?>();
        for (long i = start; step > 0 ? i < stop : i > stop; i += step)
        {
            list.Add(i);
            if (list.Count > 1_000_000) throw new JinjaException("range() is too long");
        }
        return list;
    }

    private static JinjaNamespace Namespace(List<object?> args, Dictionary<string, object?> kwargs)
    {
        var ns = new JinjaNamespace();
        if (args.Count > 0 && args[0] is OrderedDictionary<string, object?> from) foreach (var kv in from) ns.Attributes[kv.Key] = kv.Value;
        foreach (var kv in kwargs) ns.Attributes[kv.Key] = kv.Value;
        return ns;
    }

    /// <summary>Python's <c>datetime.now().strftime(format)</c> for the directives chat templates use.</summary>
    internal static string StrftimeNow(DateTime now, string format)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        for (int i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 == format.Length)
            {
                sb.Append(format[i]);
                continue;
            }
            char d = format[++i];
            sb.Append(d switch
            {
                'd' => now.ToString("dd", inv),
                'm' => now.ToString("MM", inv),
                'Y' => now.ToString("yyyy", inv),
                'y' => now.ToString("yy", inv),
                'b' => now.ToString("MMM", inv),
                'B' => now.ToString("MMMM", inv),
                'a' => now.ToString("ddd", inv),
                'A' => now.ToString("dddd", inv),
                'H' => now.ToString("HH", inv),
                'I' => now.ToString("hh", inv),
                'M' => now.ToString("mm", inv),
                'S' => now.ToString("ss", inv),
                'p' => now.ToString("tt", inv),
                'j' => now.DayOfYear.ToString("000", inv),
                '%' => "%",
                _ => "%" + d,
            });
        }
        return sb.ToString();
    }
}
