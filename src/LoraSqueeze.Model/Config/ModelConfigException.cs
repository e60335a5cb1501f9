namespace LoraSqueeze.Model.Config;

/// <summary>A config.json that is missing a field, carries an unsupported value, or is inconsistent.</summary>
public sealed class ModelConfigException : Exception
{
    public ModelConfigException(string field, string problem)
        : base($"config.json field '{field}': {problem}")
    {
        Field = field;
    }

    public ModelConfigException() : this("?", "invalid config") { }

    public ModelConfigException(string message) : base(message) { Field = "?"; }

    public ModelConfigException(string message, Exception innerException) : base(message, innerException) { Field = "?"; }

    /// <summary>The config field at fault.</summary>
    public string Field { get; } = "?";
}
