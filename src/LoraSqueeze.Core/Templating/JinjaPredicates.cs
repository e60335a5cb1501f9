namespace LoraSqueeze.Core.Templating;

/// <summary>jinja2's tests (<c>x is defined</c>, <c>x is string</c>, …; jinja2/tests.py).</summary>
internal static class JinjaPredicates
{
    public static bool Apply(string name, object? v, List<object?> args, int line)
    {
        object? Arg0() => args.Count > 0 ? args[0] : throw new JinjaException($"line {line}: test '{name}' needs an argument");
        return name switch
        {
            "defined" => v is not JinjaUndefined,
            "undefined" => v is JinjaUndefined,
            "none" => v is null,
            "string" => v is string,
            "number" => v is long or double,
            "integer" => v is long,
            "float" => v is double,
            "boolean" => v is bool,
            "true" => v is true,
            "false" => v is false,
            "mapping" => v is OrderedDictionary<string, object?> or JinjaNamespace,
            "sequence" => v is List<object?> or string or OrderedDictionary<string, object?>,
            "iterable" => v is List<object?> or string or OrderedDictionary<string, object?>,
            "callable" => v is JinjaFunction,
            "even" => JinjaValues.ToLong(v) % 2 == 0,
            "odd" => JinjaValues.ToLong(v) % 2 != 0,
            "divisibleby" => JinjaValues.ToLong(v) % JinjaValues.ToLong(Arg0()) == 0,
            "lower" => v is string s && string.Equals(s, s.ToLowerInvariant(), StringComparison.Ordinal),
            "upper" => v is string s && string.Equals(s, s.ToUpperInvariant(), StringComparison.Ordinal),
            "eq" or "equalto" or "==" => JinjaValues.Equals(v, Arg0()),
            "ne" or "!=" => !JinjaValues.Equals(v, Arg0()),
            "lt" or "lessthan" or "<" => JinjaValues.Compare(v, Arg0()) < 0,
            "le" or "<=" => JinjaValues.Compare(v, Arg0()) <= 0,
            "gt" or "greaterthan" or ">" => JinjaValues.Compare(v, Arg0()) > 0,
            "ge" or ">=" => JinjaValues.Compare(v, Arg0()) >= 0,
            "in" => JinjaValues.Contains(Arg0(), v),
            "sameas" => ReferenceEquals(v, Arg0()) || (v is null && Arg0() is null) || (v is bool a && Arg0() is bool b && a == b),
            _ => throw new JinjaException($"line {line}: unknown test '{name}'"),
        };
    }
}
