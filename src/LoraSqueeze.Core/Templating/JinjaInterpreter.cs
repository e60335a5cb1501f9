using System.Text;

namespace LoraSqueeze.Core.Templating;

/// <summary>
/// Walks the syntax tree with jinja2's semantics: a for loop's body is a scope of its own (a <c>set</c> inside it does
/// not leak out, which is why templates use <c>namespace</c>), an <c>if</c> is not; a macro runs in a scope over the
/// one it was defined in; <c>obj.name</c> prefers an attribute and <c>obj[key]</c> an item, each falling back to the
/// other and then to undefined (jinja2/environment.py <c>getattr</c>/<c>getitem</c>).
/// </summary>
internal sealed class JinjaInterpreter
{
    private enum Flow { Normal, Break, Continue }

    /// <summary>A variable scope: its own names over its parent's.</summary>
    internal sealed class Scope(Scope? parent)
    {
        private readonly Dictionary<string, object?> _vars = new(StringComparer.Ordinal);

        public bool TryGet(string name, out object? value)
        {
            for (var s = this; s is not null; s = s.Parent)
            {
                if (s._vars.TryGetValue(name, out value)) return true;
            }
            value = null;
            return false;
        }

        public Scope? Parent { get; } = parent;

        public void Set(string name, object? value) => _vars[name] = value;
    }

    private const int MaxOutputChars = 64 << 20;   // a template that loops without end is stopped, not left to fill memory
    private const int MaxDepth = 256;
    private int _depth;

    public string Render(List<JinjaNode> nodes, IReadOnlyDictionary<string, object?> variables, Func<DateTime> now)
    {
        var globals = new Scope(null);
        foreach (var (name, fn) in JinjaGlobals.Create(now)) globals.Set(name, fn);
        var scope = new Scope(globals);
        foreach (var (k, v) in variables) scope.Set(k, v);
        var output = new StringBuilder();
        Exec(nodes, scope, output);
        return output.ToString();
    }

    private Flow Exec(List<JinjaNode> nodes, Scope scope, StringBuilder output)
    {
        foreach (var node in nodes)
        {
            var flow = Exec(node, scope, output);
            if (flow != Flow.Normal) return flow;
            if (output.Length > MaxOutputChars) throw new JinjaException($"the rendered text exceeds {MaxOutputChars} characters");
        }
        return Flow.Normal;
    }

    private Flow Exec(JinjaNode node, Scope scope, StringBuilder output)
    {
        switch (node)
        {
            case TextNode t:
                output.Append(t.Text);
                return Flow.Normal;
            case OutputNode o:
                output.Append(JinjaValues.ToStr(Eval(o.Value, scope)));
                return Flow.Normal;
            case IfNode i:
                foreach (var (test, body) in i.Branches)
                {
                    if (JinjaValues.IsTrue(Eval(test, scope))) return Exec(body, scope, output);
                }
                return i.Else is null ? Flow.Normal : Exec(i.Else, scope, output);
            case ForNode f:
                ExecFor(f, scope, output);
                return Flow.Normal;
            case SetNode s:
                ExecSet(s, scope);
                return Flow.Normal;
            case MacroNode m:
                scope.Set(m.Name, DefineMacro(m, scope));
                return Flow.Normal;
            case LoopControlNode c:
                return c.IsBreak ? Flow.Break : Flow.Continue;
            case GenerationNode g:
                return Exec(g.Body, scope, output);
            case FilterBlockNode fb:
            {
                var inner = new StringBuilder();
                var flow = Exec(fb.Body, scope, inner);
                output.Append(JinjaValues.ToStr(ApplyFilter(fb.Filter, inner.ToString(), scope)));
                return flow;
            }
            default:
                throw new JinjaException($"line {node.Line}: unsupported statement");
        }
    }

    private void ExecFor(ForNode f, Scope scope, StringBuilder output)
    {
        var source = JinjaValues.Iterate(Eval(f.Iterable, scope));
        var items = source;
        if (f.Filter is not null)
        {
            items = [];
            foreach (var item in source)
            {
                var probe = new Scope(scope);
                Bind(f.Targets, item, probe, f.Line);
                if (JinjaValues.IsTrue(Eval(f.Filter, probe))) items.Add(item);
            }
        }
        if (items.Count == 0)
        {
            if (f.Else is not null) Exec(f.Else, scope, output);
            return;
        }
        var loop = new JinjaLoop(items);
        for (int i = 0; i < items.Count; i++)
        {
            var body = new Scope(scope);
            loop.Index0 = i;
            body.Set("loop", loop);
            Bind(f.Targets, items[i], body, f.Line);
            if (Exec(f.Body, body, output) == Flow.Break) break;
        }
    }

    private static void Bind(List<string> targets, object? item, Scope scope, int line)
    {
        if (targets.Count == 1)
        {
            scope.Set(targets[0], item);
            return;
        }
        if (item is not List<object?> parts || parts.Count != targets.Count)
            throw new JinjaException($"line {line}: cannot unpack {JinjaValues.TypeName(item)} into {targets.Count} names");
        for (int i = 0; i < targets.Count; i++) scope.Set(targets[i], parts[i]);
    }

    private void ExecSet(SetNode s, Scope scope)
    {
        object? value;
        if (s.Body is not null)
        {
            var inner = new StringBuilder();
            Exec(s.Body, new Scope(scope), inner);
            value = inner.ToString();
        }
        else
        {
            value = Eval(s.Value!, scope);
        }
        if (s.Attribute is not null)
        {
            if (!scope.TryGet(s.Targets[0], out var target) || target is not JinjaNamespace ns)
                throw new JinjaException($"line {s.Line}: cannot assign attribute on '{s.Targets[0]}': only a namespace() can be assigned into");
            ns.Attributes[s.Attribute] = value;
            return;
        }
        Bind(s.Targets, value, scope, s.Line);
    }

    private JinjaFunction DefineMacro(MacroNode m, Scope defining) => (args, kwargs) =>
    {
        var scope = new Scope(defining);
        if (args.Count > m.Parameters.Count) throw new JinjaException($"macro '{m.Name}' takes {m.Parameters.Count} arguments, got {args.Count}");
        for (int i = 0; i < m.Parameters.Count; i++)
        {
            var (name, def) = m.Parameters[i];
            object? value = i < args.Count ? args[i]
                : kwargs.TryGetValue(name, out var kw) ? kw
                : def is not null ? Eval(def, scope)
                : new JinjaUndefined(name);
            scope.Set(name, value);
        }
        var output = new StringBuilder();
        if (++_depth > MaxDepth) throw new JinjaException($"macro '{m.Name}': recursion deeper than {MaxDepth}");
        try
        {
            Exec(m.Body, scope, output);
        }
        finally
        {
            _depth--;
        }
        return output.ToString();
    };

    public object? Eval(JinjaExpr expr, Scope scope)
    {
        switch (expr)
        {
            case ConstantExpr c:
                return c.Value;
            case NameExpr n:
                return scope.TryGet(n.Name, out var v) ? v : new JinjaUndefined(n.Name);
            case ListExpr l:
                return l.Items.Select(i => Eval(i, scope)).ToList();
            case TupleExpr t:
                return t.Items.Select(i => Eval(i, scope)).ToList();
            case DictExpr d:
            {
                var dict = new OrderedDictionary<string, object?>();
                foreach (var (k, val) in d.Items) dict[JinjaValues.ToStr(Eval(k, scope))] = Eval(val, scope);
                return dict;
            }
            case AttributeExpr a:
                return GetAttribute(Eval(a.Target, scope), a.Attribute, a.Line);
            case ItemExpr i:
                return GetItem(Eval(i.Target, scope), Eval(i.Key, scope), i.Line);
            case SliceExpr s:
                return Slice(Eval(s.Target, scope), s.Start is null ? null : Eval(s.Start, scope),
                    s.Stop is null ? null : Eval(s.Stop, scope), s.Step is null ? null : Eval(s.Step, scope), s.Line);
            case CallExpr call:
            {
                var callee = Eval(call.Callee, scope);
                var args = call.Args.Select(a => Eval(a, scope)).ToList();
                var kwargs = call.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value, scope), StringComparer.Ordinal);
                return callee switch
                {
                    JinjaFunction fn => fn(args, kwargs),
                    JinjaUndefined u => throw new JinjaException($"line {call.Line}: '{u.Name}' is undefined"),
                    _ => throw new JinjaException($"line {call.Line}: {JinjaValues.TypeName(callee)} is not callable"),
                };
            }
            case FilterExpr f:
                return ApplyFilter(f, Eval(f.Target!, scope), scope);
            case TestExpr t:
            {
                var args = t.Args.Select(a => Eval(a, scope)).ToList();
                bool result = JinjaPredicates.Apply(t.Name, Eval(t.Target, scope), args, t.Line);
                return result != t.Negated;
            }
            case UnaryExpr u:
            {
                var operand = Eval(u.Operand, scope);
                return u.Op switch
                {
                    "not" => !JinjaValues.IsTrue(operand),
                    "-" => operand switch
                    {
                        // Typed as object: a switch over long and double arms would widen every arm to double.
                        long l => (object)(-l),
                        double d => -d,
                        bool b => b ? -1L : 0L,
                        _ => throw new JinjaException($"line {u.Line}: bad operand for unary -: {JinjaValues.TypeName(operand)}"),
                    },
                    _ => JinjaValues.IsNumber(operand) ? operand : throw new JinjaException($"line {u.Line}: bad operand for unary +"),
                };
            }
            case BinaryExpr b:
                if (b.Op == "and")
                {
                    var left = Eval(b.Left, scope);
                    return JinjaValues.IsTrue(left) ? Eval(b.Right, scope) : left;
                }
                if (b.Op == "or")
                {
                    var left = Eval(b.Left, scope);
                    return JinjaValues.IsTrue(left) ? left : Eval(b.Right, scope);
                }
                return JinjaArithmetic.Apply(b.Op, Eval(b.Left, scope), Eval(b.Right, scope), b.Line);
            case CompareExpr c:
            {
                var left = Eval(c.First, scope);
                foreach (var (op, operandExpr) in c.Rest)
                {
                    var right = Eval(operandExpr, scope);
                    bool ok = op switch
                    {
                        "==" => JinjaValues.Equals(left, right),
                        "!=" => !JinjaValues.Equals(left, right),
                        "<" => JinjaValues.Compare(left, right) < 0,
                        "<=" => JinjaValues.Compare(left, right) <= 0,
                        ">" => JinjaValues.Compare(left, right) > 0,
                        ">=" => JinjaValues.Compare(left, right) >= 0,
                        "in" => JinjaValues.Contains(right, left),
                        _ => !JinjaValues.Contains(right, left),
                    };
                    if (!ok) return false;
                    left = right;
                }
                return true;
            }
            case ConditionalExpr c:
                return JinjaValues.IsTrue(Eval(c.Test, scope)) ? Eval(c.Then, scope)
                    : c.Else is null ? new JinjaUndefined("conditional expression") : Eval(c.Else, scope);
            default:
                throw new JinjaException($"line {expr.Line}: unsupported expression");
        }
    }

    private object? ApplyFilter(FilterExpr f, object? value, Scope scope)
    {
        var args = f.Args.Select(a => Eval(a, scope)).ToList();
        var kwargs = f.Kwargs.ToDictionary(k => k.Name, k => Eval(k.Value, scope), StringComparer.Ordinal);
        return JinjaFilters.Apply(f.Name, value, args, kwargs, f.Line);
    }

    internal static object? GetAttribute(object? target, string name, int line)
    {
        switch (target)
        {
            case JinjaUndefined u:
                throw new JinjaException($"line {line}: '{u.Name}' is undefined (reading .{name})");
            case JinjaNamespace ns:
                return ns.Attributes.TryGetValue(name, out var nv) ? nv : new JinjaUndefined(name);
            case JinjaLoop loop:
                return loop.Get(name);
            case OrderedDictionary<string, object?> dict:
                if (JinjaMethods.Bind(dict, name) is { } dictMethod) return dictMethod;
                return dict.TryGetValue(name, out var dv) ? dv : new JinjaUndefined(name);
            default:
                return (object?)JinjaMethods.Bind(target, name) ?? new JinjaUndefined(name);
        }
    }

    internal static object? GetItem(object? target, object? key, int line)
    {
        switch (target)
        {
            case JinjaUndefined u:
                throw new JinjaException($"line {line}: '{u.Name}' is undefined (reading [{JinjaValues.Repr(key)}])");
            case OrderedDictionary<string, object?> dict:
                if (key is string k && dict.TryGetValue(k, out var v)) return v;
                if (key is long or bool && dict.TryGetValue(JinjaValues.ToStr(key), out var nv)) return nv;
                return key is string attr ? GetAttribute(target, attr, line) : new JinjaUndefined(JinjaValues.ToStr(key));
            case List<object?> list when key is long or bool:
            {
                long i = JinjaValues.ToLong(key);
                if (i < 0) i += list.Count;
                return i >= 0 && i < list.Count ? list[(int)i] : new JinjaUndefined($"index {JinjaValues.ToLong(key)}");
            }
            case string s when key is long or bool:
            {
                var chars = JinjaValues.EnumerateChars(s);
                long i = JinjaValues.ToLong(key);
                if (i < 0) i += chars.Count;
                return i >= 0 && i < chars.Count ? chars[(int)i] : new JinjaUndefined($"index {JinjaValues.ToLong(key)}");
            }
            default:
                return key is string name ? GetAttribute(target, name, line) : new JinjaUndefined(JinjaValues.ToStr(key));
        }
    }

    /// <summary>Python's <c>seq[start:stop:step]</c> on lists and strings.</summary>
    private static object? Slice(object? target, object? start, object? stop, object? step, int line)
    {
        List<object?> items = target switch
        {
            List<object?> l => l,
            string s => JinjaValues.EnumerateChars(s),
            JinjaUndefined u => throw new JinjaException($"line {line}: '{u.Name}' is undefined (slicing)"),
            _ => throw new JinjaException($"line {line}: {JinjaValues.TypeName(target)} cannot be sliced"),
        };
        long n = items.Count;
        long st = step is null ? 1 : JinjaValues.ToLong(step);
        if (st == 0) throw new JinjaException($"line {line}: slice step cannot be zero");
        long Clamp(object? v, long defaultValue)
        {
            if (v is null) return defaultValue;
            long i = JinjaValues.ToLong(v);
            if (i < 0) i += n;
            return st > 0 ? Math.Clamp(i, 0, n) : Math.Clamp(i, -1, n - 1);
        }
        long a = Clamp(start, st > 0 ? 0 : n - 1), b = Clamp(stop, st > 0 ? n : -1);
        var result = new List<object?>();
        for (long i = a; st > 0 ? i < b : i > b; i += st) result.Add(items[(int)i]);
        return target is string ? string.Concat(result.Select(x => (string)x!)) : result;
    }
}
