using System.Text;

namespace LoraSqueeze.Core.Templating;

/// <summary>
/// The Python methods templates call on values: <c>str</c>'s (strip, split, startswith, replace, …) and <c>dict</c>'s
/// read-only ones (items, keys, values, get). List and dict methods that mutate are absent, as in the
/// <c>ImmutableSandboxedEnvironment</c> Hugging Face renders with.
/// </summary>
internal static class JinjaMethods
{
    /// <summary>The bound method <paramref name="name"/> of <paramref name="target"/>, or null when it has none.</summary>
    public static JinjaFunction? Bind(object? target, string name) => target switch
    {
        string s => BindString(s, name),
        OrderedDictionary<string, object?> d => BindDict(d, name),
        List<object?> l => name switch
        {
            "index" => (args, _) => (long)IndexOf(l, Arg(args, 0, name)),
            "count" => (args, _) => (long)l.Count(x => JinjaValues.Equals(x, Arg(args, 0, name))),
            _ => null,
        },
        _ => null,
    };

    private static List<object?> SplitLines(string s)
    {
        var lines = s.Split(["\r\n", "\n", "\r"], StringSplitOptions.None).ToList();
        if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);   // a final line break ends the last line
        return lines.Cast<object?>().ToList();
    }

    private static int IndexOf(List<object?> l, object? item)
    {
        int i = l.FindIndex(x => JinjaValues.Equals(x, item));
        return i >= 0 ? i : throw new JinjaException($"{JinjaValues.Repr(item)} is not in list");
    }

    private static object? Arg(List<object?> args, int i, string method) =>
        i < args.Count ? args[i] : throw new JinjaException($"{method}() is missing argument {i + 1}");

    private static JinjaFunction? BindDict(OrderedDictionary<string, object?> d, string name) => name switch
    {
        "items" => (_, _) => d.Select(kv => (object?)new List<object?> { kv.Key, kv.Value }).ToList(),
        "keys" => (_, _) => d.Keys.Cast<object?>().ToList(),
        "values" => (_, _) => d.Values.ToList(),
        "get" => (args, _) => Arg(args, 0, name) is string k && d.TryGetValue(k, out var v) ? v : args.Count > 1 ? args[1] : null,
        _ => null,
    };

    private static JinjaFunction? BindString(string s, string name) => name switch
    {
        "strip" => (args, _) => Strip(s, args, true, true),
        "lstrip" => (args, _) => Strip(s, args, true, false),
        "rstrip" => (args, _) => Strip(s, args, false, true),
        "upper" => (_, _) => s.ToUpperInvariant(),
        "lower" => (_, _) => s.ToLowerInvariant(),
        "title" => (_, _) => Title(s),
        "capitalize" => (_, _) => s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant(),
        "startswith" => (args, _) => AnyAffix(Arg(args, 0, name), p => s.StartsWith(p, StringComparison.Ordinal)),
        "endswith" => (args, _) => AnyAffix(Arg(args, 0, name), p => s.EndsWith(p, StringComparison.Ordinal)),
        "split" => (args, kwargs) => Split(s, args, kwargs, fromRight: false),
        "rsplit" => (args, kwargs) => Split(s, args, kwargs, fromRight: true),
        "splitlines" => (_, _) => SplitLines(s),
        "replace" => (args, _) => Replace(s, JinjaValues.ToStr(Arg(args, 0, name)), JinjaValues.ToStr(Arg(args, 1, name)),
            args.Count > 2 ? JinjaValues.ToLong(args[2]) : -1),
        "find" => (args, _) => (long)s.IndexOf(JinjaValues.ToStr(Arg(args, 0, name)), StringComparison.Ordinal),
        "rfind" => (args, _) => (long)s.LastIndexOf(JinjaValues.ToStr(Arg(args, 0, name)), StringComparison.Ordinal),
        "count" => (args, _) => (long)CountOf(s, JinjaValues.ToStr(Arg(args, 0, name))),
        "join" => (args, _) => string.Join(s, JinjaValues.Iterate(Arg(args, 0, name)).Select(JinjaValues.ToStr)),
        "isdigit" => (_, _) => s.Length > 0 && s.All(char.IsDigit),
        "isalpha" => (_, _) => s.Length > 0 && s.All(char.IsLetter),
        "isspace" => (_, _) => s.Length > 0 && s.All(char.IsWhiteSpace),
        "isupper" => (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsLower),
        "islower" => (_, _) => s.Any(char.IsLetter) && !s.Any(char.IsUpper),
        "removeprefix" => (args, _) => JinjaValues.ToStr(Arg(args, 0, name)) is var p && s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s,
        "removesuffix" => (args, _) => JinjaValues.ToStr(Arg(args, 0, name)) is var p && p.Length > 0 && s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s,
        _ => null,
    };

    /// <summary>Python's <c>str.strip([chars])</c>: whitespace by default, else any of the given characters.</summary>
    internal static string Strip(string s, List<object?> args, bool start, bool end)
    {
        if (args.Count == 0 || args[0] is null)
        {
            if (start && end) return s.Trim();
            return start ? s.TrimStart() : s.TrimEnd();
        }
        char[] chars = JinjaValues.ToStr(args[0]).ToCharArray();
        if (start && end) return s.Trim(chars);
        return start ? s.TrimStart(chars) : s.TrimEnd(chars);
    }

    private static bool AnyAffix(object? arg, Func<string, bool> test) => arg switch
    {
        string p => test(p),
        List<object?> tuple => tuple.Any(p => test(JinjaValues.ToStr(p))),
        _ => throw new JinjaException($"startswith/endswith needs a string or a tuple of strings, not {JinjaValues.TypeName(arg)}"),
    };

    internal static string Title(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }
        return sb.ToString();
    }

    /// <summary>Python's <c>str.split(sep=None, maxsplit=-1)</c> and <c>rsplit</c>.</summary>
    private static List<object?> Split(string s, List<object?> args, Dictionary<string, object?> kwargs, bool fromRight)
    {
        object? sepArg = args.Count > 0 ? args[0] : kwargs.GetValueOrDefault("sep");
        long max = args.Count > 1 ? JinjaValues.ToLong(args[1]) : kwargs.TryGetValue("maxsplit", out var m) ? JinjaValues.ToLong(m) : -1;
        List<string> parts;
        if (sepArg is null)
        {
            // Runs of whitespace separate; leading and trailing whitespace give no empty parts.
            var words = s.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries).ToList();
            if (max < 0 || words.Count <= max + 1) return words.Cast<object?>().ToList();
            if (!fromRight)
            {
                parts = words.Take((int)max).ToList();
                string rest = s.TrimStart();
                for (int i = 0; i < max; i++) rest = rest[rest.IndexOf(words[i], StringComparison.Ordinal)..][words[i].Length..].TrimStart();
                parts.Add(rest);
                return parts.Cast<object?>().ToList();
            }
            parts = words.Skip(words.Count - (int)max).ToList();
            string head = s.TrimEnd();
            for (int i = words.Count - 1; i >= words.Count - max; i--) head = head[..head.LastIndexOf(words[i], StringComparison.Ordinal)].TrimEnd();
            parts.Insert(0, head);
            return parts.Cast<object?>().ToList();
        }
        string sep = JinjaValues.ToStr(sepArg);
        if (sep.Length == 0) throw new JinjaException("split: empty separator");
        var all = s.Split(sep).ToList();
        if (max < 0 || all.Count <= max + 1) return all.Cast<object?>().ToList();
        if (!fromRight)
        {
            parts = all.Take((int)max).ToList();
            parts.Add(string.Join(sep, all.Skip((int)max)));
        }
        else
        {
            parts = [string.Join(sep, all.Take(all.Count - (int)max))];
            parts.AddRange(all.Skip(all.Count - (int)max));
        }
        return parts.Cast<object?>().ToList();
    }

    internal static string Replace(string s, string old, string replacement, long count)
    {
        if (count < 0) return old.Length == 0 ? string.Join(replacement, ["", .. JinjaValues.EnumerateChars(s).Select(c => (string)c!), ""]) : s.Replace(old, replacement, StringComparison.Ordinal);
        var sb = new StringBuilder();
        int pos = 0;
        for (long n = 0; n < count; n++)
        {
            int i = s.IndexOf(old, pos, StringComparison.Ordinal);
            if (i < 0 || old.Length == 0) break;
            sb.Append(s, pos, i - pos).Append(replacement);
            pos = i + old.Length;
        }
        return sb.Append(s, pos, s.Length - pos).ToString();
    }

    private static int CountOf(string s, string sub)
    {
        if (sub.Length == 0) return s.Length + 1;
        int n = 0;
        for (int i = s.IndexOf(sub, StringComparison.Ordinal); i >= 0; i = s.IndexOf(sub, i + sub.Length, StringComparison.Ordinal)) n++;
        return n;
    }
}
