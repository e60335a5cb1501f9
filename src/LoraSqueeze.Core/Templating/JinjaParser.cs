using System.Globalization;

namespace LoraSqueeze.Core.Templating;

/// <summary>
/// Recursive-descent parser from tokens to the syntax tree, with jinja2's precedence (jinja2/parser.py): conditional,
/// or, and, not, comparisons and <c>in</c>, <c>+ -</c>, <c>~</c>, <c>* / // %</c>, <c>**</c>, unary minus, then postfix
/// (attributes, items, slices, calls) with filters and tests.
/// </summary>
internal sealed class JinjaParser(List<JinjaToken> tokens)
{
    private int _i;

    private JinjaToken Current => tokens[_i];

    public List<JinjaNode> ParseTemplate()
    {
        var body = ParseBody(out var end);
        if (end is not null) throw Error($"unexpected '{{% {end} %}}'");
        return body;
    }

    /// <summary>Statements until a block tag named in <paramref name="stops"/> (returned in <paramref name="stop"/>, its name consumed) or the end.</summary>
    private List<JinjaNode> ParseBody(out string? stop, params string[] stops)
    {
        var nodes = new List<JinjaNode>();
        stop = null;
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case JinjaTokenKind.End:
                    if (stops.Length > 0) throw Error($"missing '{{% {stops[^1]} %}}' (template ended)");
                    return nodes;
                case JinjaTokenKind.Text:
                    nodes.Add(new TextNode(t.Value, t.Line));
                    _i++;
                    break;
                case JinjaTokenKind.VariableStart:
                    _i++;
                    var value = ParseExpression();
                    Expect(JinjaTokenKind.VariableEnd);
                    nodes.Add(new OutputNode(value, t.Line));
                    break;
                case JinjaTokenKind.BlockStart:
                    var name = tokens[_i + 1];
                    if (name.Kind == JinjaTokenKind.Name && stops.Contains(name.Value))
                    {
                        _i += 2;
                        stop = name.Value;
                        return nodes;
                    }
                    _i++;
                    nodes.Add(ParseStatement());
                    break;
                default:
                    throw Error($"unexpected {t}");
            }
        }
    }

    private JinjaNode ParseStatement()
    {
        var t = Current;
        if (t.Kind != JinjaTokenKind.Name) throw Error($"expected a statement name, found {t}");
        _i++;
        switch (t.Value)
        {
            case "if": return ParseIf(t.Line);
            case "for": return ParseFor(t.Line);
            case "set": return ParseSet(t.Line);
            case "macro": return ParseMacro(t.Line);
            case "break":
            case "continue":
                Expect(JinjaTokenKind.BlockEnd);
                return new LoopControlNode(t.Value == "break", t.Line);
            case "generation":
            {
                Expect(JinjaTokenKind.BlockEnd);
                var body = ParseBody(out _, "endgeneration");
                Expect(JinjaTokenKind.BlockEnd);
                return new GenerationNode(body, t.Line);
            }
            case "filter":
            {
                var filter = ParseFilter(null);
                Expect(JinjaTokenKind.BlockEnd);
                var body = ParseBody(out _, "endfilter");
                Expect(JinjaTokenKind.BlockEnd);
                return new FilterBlockNode(filter, body, t.Line);
            }
            default:
                throw Error($"unknown statement '{t.Value}'");
        }
    }

    private IfNode ParseIf(int line)
    {
        var branches = new List<(JinjaExpr, List<JinjaNode>)>();
        var test = ParseExpression();
        Expect(JinjaTokenKind.BlockEnd);
        while (true)
        {
            var body = ParseBody(out var stop, "elif", "else", "endif");
            branches.Add((test, body));
            if (stop == "elif")
            {
                test = ParseExpression();
                Expect(JinjaTokenKind.BlockEnd);
                continue;
            }
            Expect(JinjaTokenKind.BlockEnd);
            if (stop == "endif") return new IfNode(branches, null, line);
            var elseBody = ParseBody(out _, "endif");
            Expect(JinjaTokenKind.BlockEnd);
            return new IfNode(branches, elseBody, line);
        }
    }

    private ForNode ParseFor(int line)
    {
        var targets = new List<string> { ExpectName() };
        while (Current.IsOperator(","))
        {
            _i++;
            targets.Add(ExpectName());
        }
        if (!Current.IsName("in")) throw Error($"expected 'in' in for loop, found {Current}");
        _i++;
        var iterable = ParseConditional(allowConditional: false);
        JinjaExpr? filter = null;
        if (Current.IsName("if"))
        {
            _i++;
            filter = ParseExpression();
        }
        if (Current.IsName("recursive")) throw Error("recursive for loops are not supported");
        Expect(JinjaTokenKind.BlockEnd);
        var body = ParseBody(out var stop, "else", "endfor");
        Expect(JinjaTokenKind.BlockEnd);
        List<JinjaNode>? elseBody = null;
        if (stop == "else")
        {
            elseBody = ParseBody(out _, "endfor");
            Expect(JinjaTokenKind.BlockEnd);
        }
        return new ForNode(targets, iterable, filter, body, elseBody, line);
    }

    private SetNode ParseSet(int line)
    {
        var targets = new List<string> { ExpectName() };
        string? attribute = null;
        if (Current.IsOperator("."))
        {
            _i++;
            attribute = ExpectName();
        }
        while (attribute is null && Current.IsOperator(","))
        {
            _i++;
            targets.Add(ExpectName());
        }
        if (Current.Kind == JinjaTokenKind.BlockEnd && attribute is null && targets.Count == 1)
        {
            _i++;
            var body = ParseBody(out _, "endset");
            Expect(JinjaTokenKind.BlockEnd);
            return new SetNode(targets, null, null, body, line);
        }
        if (!Current.IsOperator("=")) throw Error($"expected '=' in set, found {Current}");
        _i++;
        var value = ParseTupleOrExpression();
        Expect(JinjaTokenKind.BlockEnd);
        return new SetNode(targets, attribute, value, null, line);
    }

    private MacroNode ParseMacro(int line)
    {
        string name = ExpectName();
        ExpectOperator("(");
        var parameters = new List<(string, JinjaExpr?)>();
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0) ExpectOperator(",");
            string p = ExpectName();
            JinjaExpr? def = null;
            if (Current.IsOperator("="))
            {
                _i++;
                def = ParseExpression();
            }
            parameters.Add((p, def));
        }
        _i++;
        Expect(JinjaTokenKind.BlockEnd);
        var body = ParseBody(out _, "endmacro");
        if (Current.Kind == JinjaTokenKind.Name) _i++;   // {% endmacro name %}
        Expect(JinjaTokenKind.BlockEnd);
        return new MacroNode(name, parameters, body, line);
    }

    /// <summary><c>a, b</c> without brackets is a tuple (as in <c>{% set x = 1, 2 %}</c>).</summary>
    private JinjaExpr ParseTupleOrExpression()
    {
        var first = ParseExpression();
        if (!Current.IsOperator(",")) return first;
        var items = new List<JinjaExpr> { first };
        while (Current.IsOperator(","))
        {
            _i++;
            if (Current.Kind == JinjaTokenKind.BlockEnd) break;
            items.Add(ParseExpression());
        }
        return new TupleExpr(items, first.Line);
    }

    public JinjaExpr ParseExpression() => ParseConditional(allowConditional: true);

    private JinjaExpr ParseConditional(bool allowConditional)
    {
        var expr = ParseOr();
        while (allowConditional && Current.IsName("if"))
        {
            int line = Current.Line;
            _i++;
            var test = ParseOr();
            JinjaExpr? otherwise = null;
            if (Current.IsName("else"))
            {
                _i++;
                otherwise = ParseConditional(true);
            }
            expr = new ConditionalExpr(test, expr, otherwise, line);
        }
        return expr;
    }

    private JinjaExpr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            int line = Current.Line;
            _i++;
            left = new BinaryExpr("or", left, ParseAnd(), line);
        }
        return left;
    }

    private JinjaExpr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            int line = Current.Line;
            _i++;
            left = new BinaryExpr("and", left, ParseNot(), line);
        }
        return left;
    }

    private JinjaExpr ParseNot()
    {
        if (Current.IsName("not"))
        {
            int line = Current.Line;
            _i++;
            return new UnaryExpr("not", ParseNot(), line);
        }
        return ParseCompare();
    }

    private JinjaExpr ParseCompare()
    {
        var first = ParseMath1();
        var rest = new List<(string, JinjaExpr)>();
        while (true)
        {
            var t = Current;
            if (t.Kind == JinjaTokenKind.Operator && t.Value is "==" or "!=" or "<" or ">" or "<=" or ">=")
            {
                _i++;
                rest.Add((t.Value, ParseMath1()));
            }
            else if (t.IsName("in"))
            {
                _i++;
                rest.Add(("in", ParseMath1()));
            }
            else if (t.IsName("not") && tokens[_i + 1].IsName("in"))
            {
                _i += 2;
                rest.Add(("notin", ParseMath1()));
            }
            else
            {
                break;
            }
        }
        return rest.Count == 0 ? first : new CompareExpr(first, rest, first.Line);
    }

    private JinjaExpr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.Kind == JinjaTokenKind.Operator && Current.Value is "+" or "-")
        {
            var t = Current;
            _i++;
            left = new BinaryExpr(t.Value, left, ParseConcat(), t.Line);
        }
        return left;
    }

    private JinjaExpr ParseConcat()
    {
        var left = ParseMath2();
        while (Current.IsOperator("~"))
        {
            int line = Current.Line;
            _i++;
            left = new BinaryExpr("~", left, ParseMath2(), line);
        }
        return left;
    }

    private JinjaExpr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == JinjaTokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            var t = Current;
            _i++;
            left = new BinaryExpr(t.Value, left, ParsePow(), t.Line);
        }
        return left;
    }

    private JinjaExpr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Current.IsOperator("**"))
        {
            int line = Current.Line;
            _i++;
            left = new BinaryExpr("**", left, ParseUnary(withFilter: true), line);
        }
        return left;
    }

    private JinjaExpr ParseUnary(bool withFilter)
    {
        var t = Current;
        JinjaExpr node;
        if (t.IsOperator("-") || t.IsOperator("+"))
        {
            _i++;
            node = new UnaryExpr(t.Value, ParseUnary(withFilter: false), t.Line);
        }
        else
        {
            node = ParsePostfix(ParsePrimary());
        }
        return withFilter ? ParseFilterAndTests(node) : node;
    }

    private JinjaExpr ParsePrimary()
    {
        var t = Current;
        _i++;
        switch (t.Kind)
        {
            case JinjaTokenKind.Name:
                return t.Value switch
                {
                    "true" or "True" => new ConstantExpr(true, t.Line),
                    "false" or "False" => new ConstantExpr(false, t.Line),
                    "none" or "None" => new ConstantExpr(null, t.Line),
                    _ => new NameExpr(t.Value, t.Line),
                };
            case JinjaTokenKind.String:
            {
                // Adjacent literals concatenate, as in Python.
                string s = t.Value;
                while (Current.Kind == JinjaTokenKind.String) s += tokens[_i++].Value;
                return new ConstantExpr(s, t.Line);
            }
            case JinjaTokenKind.Integer:
                return new ConstantExpr(long.Parse(t.Value, CultureInfo.InvariantCulture), t.Line);
            case JinjaTokenKind.Float:
                return new ConstantExpr(double.Parse(t.Value, CultureInfo.InvariantCulture), t.Line);
            case JinjaTokenKind.Operator when t.Value == "(":
            {
                if (Current.IsOperator(")"))
                {
                    _i++;
                    return new TupleExpr([], t.Line);
                }
                var first = ParseExpression();
                if (Current.IsOperator(")"))
                {
                    _i++;
                    return first;
                }
                var items = new List<JinjaExpr> { first };
                while (Current.IsOperator(","))
                {
                    _i++;
                    if (Current.IsOperator(")")) break;
                    items.Add(ParseExpression());
                }
                ExpectOperator(")");
                return new TupleExpr(items, t.Line);
            }
            case JinjaTokenKind.Operator when t.Value == "[":
            {
                var items = new List<JinjaExpr>();
                while (!Current.IsOperator("]"))
                {
                    if (items.Count > 0)
                    {
                        ExpectOperator(",");
                        if (Current.IsOperator("]")) break;
                    }
                    items.Add(ParseExpression());
                }
                _i++;
                return new ListExpr(items, t.Line);
            }
            case JinjaTokenKind.Operator when t.Value == "{":
            {
                var items = new List<(JinjaExpr, JinjaExpr)>();
                while (!Current.IsOperator("}"))
                {
                    if (items.Count > 0)
                    {
                        ExpectOperator(",");
                        if (Current.IsOperator("}")) break;
                    }
                    var key = ParseExpression();
                    ExpectOperator(":");
                    items.Add((key, ParseExpression()));
                }
                _i++;
                return new DictExpr(items, t.Line);
            }
            default:
                _i--;
                throw Error($"unexpected {t}");
        }
    }

    private JinjaExpr ParsePostfix(JinjaExpr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOperator("."))
            {
                _i++;
                var attr = Current;
                _i++;
                if (attr.Kind == JinjaTokenKind.Name) node = new AttributeExpr(node, attr.Value, t.Line);
                else if (attr.Kind == JinjaTokenKind.Integer) node = new ItemExpr(node, new ConstantExpr(long.Parse(attr.Value, CultureInfo.InvariantCulture), t.Line), t.Line);
                else throw Error($"expected an attribute name after '.', found {attr}");
            }
            else if (t.IsOperator("["))
            {
                _i++;
                node = ParseSubscript(node, t.Line);
            }
            else if (t.IsOperator("("))
            {
                _i++;
                var (args, kwargs) = ParseCallArgs();
                node = new CallExpr(node, args, kwargs, t.Line);
            }
            else
            {
                return node;
            }
        }
    }

    private JinjaExpr ParseSubscript(JinjaExpr target, int line)
    {
        JinjaExpr? start = null, stop = null, step = null;
        if (!Current.IsOperator(":")) start = ParseExpression();
        if (Current.IsOperator("]"))
        {
            _i++;
            return new ItemExpr(target, start!, line);
        }
        ExpectOperator(":");
        if (!Current.IsOperator(":") && !Current.IsOperator("]")) stop = ParseExpression();
        if (Current.IsOperator(":"))
        {
            _i++;
            if (!Current.IsOperator("]")) step = ParseExpression();
        }
        ExpectOperator("]");
        return new SliceExpr(target, start, stop, step, line);
    }

    private (List<JinjaExpr>, List<(string, JinjaExpr)>) ParseCallArgs()
    {
        var args = new List<JinjaExpr>();
        var kwargs = new List<(string, JinjaExpr)>();
        while (!Current.IsOperator(")"))
        {
            if (args.Count + kwargs.Count > 0)
            {
                ExpectOperator(",");
                if (Current.IsOperator(")")) break;
            }
            if (Current.Kind == JinjaTokenKind.Name && tokens[_i + 1].IsOperator("="))
            {
                string name = Current.Value;
                _i += 2;
                kwargs.Add((name, ParseExpression()));
            }
            else
            {
                args.Add(ParseExpression());
            }
        }
        _i++;
        return (args, kwargs);
    }

    private JinjaExpr ParseFilterAndTests(JinjaExpr node)
    {
        while (true)
        {
            if (Current.IsOperator("|"))
            {
                _i++;
                node = ParseFilter(node);
            }
            else if (Current.IsName("is"))
            {
                int line = Current.Line;
                _i++;
                bool negated = false;
                if (Current.IsName("not"))
                {
                    negated = true;
                    _i++;
                }
                var nameToken = Current;
                _i++;
                string name = nameToken.Kind switch
                {
                    JinjaTokenKind.Name => nameToken.Value,
                    JinjaTokenKind.Operator when nameToken.Value is "==" or "!=" or "<" or ">" or "<=" or ">=" => nameToken.Value,
                    _ => throw Error($"expected a test name after 'is', found {nameToken}"),
                };
                while (Current.IsOperator("."))
                {
                    _i++;
                    name += "." + ExpectName();
                }
                var args = new List<JinjaExpr>();
                if (Current.IsOperator("("))
                {
                    _i++;
                    args = ParseCallArgs().Item1;
                }
                else if (Current.Kind is JinjaTokenKind.String or JinjaTokenKind.Integer or JinjaTokenKind.Float
                         || (Current.Kind == JinjaTokenKind.Name && Current.Value is not ("and" or "or" or "else" or "if" or "in" or "not" or "is")))
                {
                    // A test takes one argument without parentheses: `x is divisibleby 3`, `x is sameas none`.
                    args.Add(ParsePostfix(ParsePrimary()));
                }
                node = new TestExpr(node, name, args, negated, line);
            }
            else
            {
                return node;
            }
        }
    }

    private FilterExpr ParseFilter(JinjaExpr? target)
    {
        int line = Current.Line;
        string name = ExpectName();
        while (Current.IsOperator("."))
        {
            _i++;
            name += "." + ExpectName();
        }
        var args = new List<JinjaExpr>();
        var kwargs = new List<(string, JinjaExpr)>();
        if (Current.IsOperator("("))
        {
            _i++;
            (args, kwargs) = ParseCallArgs();
        }
        return new FilterExpr(target, name, args, kwargs, line);
    }

    private string ExpectName()
    {
        var t = Current;
        if (t.Kind != JinjaTokenKind.Name) throw Error($"expected a name, found {t}");
        _i++;
        return t.Value;
    }

    private void ExpectOperator(string op)
    {
        if (!Current.IsOperator(op)) throw Error($"expected '{op}', found {Current}");
        _i++;
    }

    private void Expect(JinjaTokenKind kind)
    {
        if (Current.Kind != kind)
        {
            string want = kind switch { JinjaTokenKind.BlockEnd => "'%}'", JinjaTokenKind.VariableEnd => "'}}'", _ => kind.ToString() };
            throw Error($"expected {want}, found {Current}");
        }
        _i++;
    }

    private JinjaException Error(string message) => new($"line {Current.Line}: {message}");
}
