namespace LoraSqueeze.Core.Templating;

/// <summary>
/// A template that cannot be parsed or rendered: a syntax error (with its line), an undefined name used where a value
/// is required, or a template's own <c>raise_exception(message)</c>. The message is the template's or names the construct.
/// </summary>
public sealed class JinjaException(string message) : Exception(message);
