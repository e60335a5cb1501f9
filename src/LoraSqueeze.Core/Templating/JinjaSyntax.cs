namespace LoraSqueeze.Core.Templating;

// The syntax tree of a parsed template: statements (JinjaNode) and expressions (JinjaExpr), after jinja2/nodes.py.

internal abstract record JinjaNode(int Line);

internal sealed record TextNode(string Text, int Line) : JinjaNode(Line);

internal sealed record OutputNode(JinjaExpr Value, int Line) : JinjaNode(Line);

internal sealed record IfNode(List<(JinjaExpr Test, List<JinjaNode> Body)> Branches, List<JinjaNode>? Else, int Line) : JinjaNode(Line);

/// <summary><c>{% for a, b in iterable if filter %}body{% else %}empty{% endfor %}</c>.</summary>
internal sealed record ForNode(List<string> Targets, JinjaExpr Iterable, JinjaExpr? Filter, List<JinjaNode> Body,
    List<JinjaNode>? Else, int Line) : JinjaNode(Line);

/// <summary><c>{% set a = v %}</c>, <c>{% set a, b = v %}</c>, <c>{% set ns.attr = v %}</c> (Attribute set), or a block set (Body).</summary>
internal sealed record SetNode(List<string> Targets, string? Attribute, JinjaExpr? Value, List<JinjaNode>? Body, int Line) : JinjaNode(Line);

internal sealed record MacroNode(string Name, List<(string Name, JinjaExpr? Default)> Parameters, List<JinjaNode> Body, int Line) : JinjaNode(Line);

/// <summary><c>{% break %}</c> / <c>{% continue %}</c> (jinja2.ext.loopcontrols, which Hugging Face enables).</summary>
internal sealed record LoopControlNode(bool IsBreak, int Line) : JinjaNode(Line);

/// <summary><c>{% filter name %}body{% endfilter %}</c>: the body's output through a filter.</summary>
internal sealed record FilterBlockNode(FilterExpr Filter, List<JinjaNode> Body, int Line) : JinjaNode(Line);

/// <summary><c>{% generation %}</c> (transformers' AssistantTracker): renders its body unchanged.</summary>
internal sealed record GenerationNode(List<JinjaNode> Body, int Line) : JinjaNode(Line);

internal abstract record JinjaExpr(int Line);

internal sealed record ConstantExpr(object? Value, int Line) : JinjaExpr(Line);

internal sealed record NameExpr(string Name, int Line) : JinjaExpr(Line);

internal sealed record ListExpr(List<JinjaExpr> Items, int Line) : JinjaExpr(Line);

/// <summary>A tuple literal; a Python tuple behaves as an immutable list here.</summary>
internal sealed record TupleExpr(List<JinjaExpr> Items, int Line) : JinjaExpr(Line);

internal sealed record DictExpr(List<(JinjaExpr Key, JinjaExpr Value)> Items, int Line) : JinjaExpr(Line);

/// <summary><c>a.b</c> (Attribute) — jinja2's getattr, falling back to an item.</summary>
internal sealed record AttributeExpr(JinjaExpr Target, string Attribute, int Line) : JinjaExpr(Line);

/// <summary><c>a[b]</c> — jinja2's getitem, falling back to an attribute.</summary>
internal sealed record ItemExpr(JinjaExpr Target, JinjaExpr Key, int Line) : JinjaExpr(Line);

internal sealed record SliceExpr(JinjaExpr Target, JinjaExpr? Start, JinjaExpr? Stop, JinjaExpr? Step, int Line) : JinjaExpr(Line);

internal sealed record CallExpr(JinjaExpr Callee, List<JinjaExpr> Args, List<(string Name, JinjaExpr Value)> Kwargs, int Line) : JinjaExpr(Line);

internal sealed record FilterExpr(JinjaExpr? Target, string Name, List<JinjaExpr> Args, List<(string Name, JinjaExpr Value)> Kwargs, int Line) : JinjaExpr(Line);

internal sealed record TestExpr(JinjaExpr Target, string Name, List<JinjaExpr> Args, bool Negated, int Line) : JinjaExpr(Line);

internal sealed record UnaryExpr(string Op, JinjaExpr Operand, int Line) : JinjaExpr(Line);

internal sealed record BinaryExpr(string Op, JinjaExpr Left, JinjaExpr Right, int Line) : JinjaExpr(Line);

/// <summary>Chained comparison <c>a &lt; b &lt;= c</c> (Python semantics: each pair, and-ed).</summary>
internal sealed record CompareExpr(JinjaExpr First, List<(string Op, JinjaExpr Operand)> Rest, int Line) : JinjaExpr(Line);

/// <summary><c>a if cond else b</c>; without else, undefined.</summary>
internal sealed record ConditionalExpr(JinjaExpr Test, JinjaExpr Then, JinjaExpr? Else, int Line) : JinjaExpr(Line);
