namespace LoraSqueeze.Core.Templating;

/// <summary>
/// A parsed Jinja template, rendered as many times as needed (parse once per model, render per request). The subset
/// is the one Hugging Face chat templates use: statements if/for/set/macro/break/continue/filter/generation/raw, the
/// full expression grammar, jinja2's tests and common filters, Python string and dict methods, and the globals
/// <c>range</c>, <c>namespace</c>, <c>dict</c>, <c>raise_exception</c>, <c>strftime_now</c>. Not supported (refused with
/// a message): template inheritance and includes, recursive loops, <c>call</c> blocks, autoescaping.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly List<JinjaNode> _nodes;

    private JinjaTemplate(List<JinjaNode> nodes) => _nodes = nodes;

    /// <summary>
    /// Parses <paramref name="source"/>. <paramref name="trimBlocks"/> and <paramref name="lstripBlocks"/> are jinja2's
    /// environment options of the same names; Hugging Face turns both on for chat templates. Throws
    /// <see cref="JinjaException"/> with the line of a syntax error.
    /// </summary>
    public static JinjaTemplate Parse(string source, bool trimBlocks = false, bool lstripBlocks = false)
    {
        // jinja2's keep_trailing_newline=False (its default, which Hugging Face keeps): one final newline is dropped.
        if (source.EndsWith("\r\n", StringComparison.Ordinal)) source = source[..^2];
        else if (source.EndsWith('\n')) source = source[..^1];
        var tokens = new JinjaLexer(source, trimBlocks, lstripBlocks).Tokenize();
        return new JinjaTemplate(new JinjaParser(tokens).ParseTemplate());
    }

    /// <summary>
    /// Renders with <paramref name="variables"/> (values as <see cref="JinjaValues"/> describes them);
    /// <paramref name="now"/> is the clock of <c>strftime_now</c> (default: local time).
    /// </summary>
    public string Render(IReadOnlyDictionary<string, object?> variables, Func<DateTime>? now = null) =>
        new JinjaInterpreter().Render(_nodes, variables, now ?? (() => DateTime.Now));
}
