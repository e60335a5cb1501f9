using System.Text;

namespace LoraSqueeze.Core.Templating;

/// <summary>Python's binary operators on template values: <c>+ - * / // % **</c> and jinja2's <c>~</c> (string concatenation).</summary>
internal static class JinjaArithmetic
{
    public static object? Apply(string op, object? a, object? b, int line)
    {
        if (op == "~") return JinjaValues.ToStr(a) + JinjaValues.ToStr(b);
        if (a is JinjaUndefined ua) throw new JinjaException($"line {line}: '{ua.Name}' is undefined (operator {op})");
        if (b is JinjaUndefined ub) throw new JinjaException($"line {line}: '{ub.Name}' is undefined (operator {op})");
        switch (op)
        {
            case "+" when a is string sa && b is string sb: return sa + sb;
            case "+" when a is List<object?> la && b is List<object?> lb: return la.Concat(lb).ToList();
            case "*" when a is string s && b is long or bool: return Repeat(s, JinjaValues.ToLong(b));
            case "*" when b is string s && a is long or bool: return Repeat(s, JinjaValues.ToLong(a));
            case "*" when a is List<object?> l && b is long or bool: return Enumerable.Repeat(l, (int)Math.Max(0, JinjaValues.ToLong(b))).SelectMany(x => x).ToList();
            case "%" when a is string format: return JinjaFilters.PercentFormat(format, b is List<object?> t ? t : [b], line);
        }
        if (!JinjaValues.IsNumber(a) || !JinjaValues.IsNumber(b))
            throw new JinjaException($"line {line}: unsupported operand types for {op}: {JinjaValues.TypeName(a)} and {JinjaValues.TypeName(b)}");
        bool integral = a is not double && b is not double;
        if (integral)
        {
            long x = JinjaValues.ToLong(a), y = JinjaValues.ToLong(b);
            switch (op)
            {
                case "+": return x + y;
                case "-": return x - y;
                case "*": return x * y;
                case "/": return y == 0 ? throw DivisionByZero(line) : (double)x / y;
                case "//": return y == 0 ? throw DivisionByZero(line) : FloorDiv(x, y);
                case "%": return y == 0 ? throw DivisionByZero(line) : x - (FloorDiv(x, y) * y);
                case "**": return y >= 0 ? (object)(long)Math.Pow(x, y) : Math.Pow(x, y);
            }
        }
        double p = JinjaValues.ToDouble(a), q = JinjaValues.ToDouble(b);
        return op switch
        {
            "+" => p + q,
            "-" => p - q,
            "*" => p * q,
            "/" => q == 0 ? throw DivisionByZero(line) : p / q,
            "//" => q == 0 ? throw DivisionByZero(line) : Math.Floor(p / q),
            "%" => q == 0 ? throw DivisionByZero(line) : p - (Math.Floor(p / q) * q),
            "**" => Math.Pow(p, q),
            _ => throw new JinjaException($"line {line}: unknown operator {op}"),
        };
    }

    private static long FloorDiv(long x, long y)
    {
        long q = x / y;
        return (x % y != 0) && ((x < 0) != (y < 0)) ? q - 1 : q;
    }

    private static string Repeat(string s, long n)
    {
        if (n <= 0) return "";
        if (s.Length * n > 1 << 24) throw new JinjaException("string repetition too large");
        return new StringBuilder(s.Length * (int)n).Insert(0, s, (int)n).ToString();
    }

    private static JinjaException DivisionByZero(int line) => new($"line {line}: division by zero");
}
