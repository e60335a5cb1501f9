namespace LoraSqueeze.Core.Templating;

/// <summary>Kinds of <see cref="JinjaToken"/>: template text, tag delimiters, and the tokens inside a tag.</summary>
internal enum JinjaTokenKind
{
    Text,
    VariableStart,   // {{
    VariableEnd,     // }}
    BlockStart,      // {%
    BlockEnd,        // %}
    Name,
    String,
    Integer,
    Float,
    Operator,
    End,
}

/// <summary>One lexed token; <see cref="Line"/> (1-based) is where it starts, for error messages.</summary>
internal readonly record struct JinjaToken(JinjaTokenKind Kind, string Value, int Line)
{
    public bool Is(JinjaTokenKind kind, string value) => Kind == kind && Value == value;

    public bool IsName(string name) => Kind == JinjaTokenKind.Name && Value == name;

    public bool IsOperator(string op) => Kind == JinjaTokenKind.Operator && Value == op;

    public override string ToString() => Kind switch
    {
        JinjaTokenKind.End => "end of template",
        JinjaTokenKind.String => $"string '{Value}'",
        _ => $"'{Value}'",
    };
}
