namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// An adapter feature that cannot become one static ΔW per module (MoE-LoRA routers, residual initialisation such as
/// PiSSA/OLoRA, <c>modules_to_save</c>, …). <see cref="Feature"/> names it so the user knows what to change.
/// </summary>
public sealed class UnsupportedAdapterException : NotSupportedException
{
    public UnsupportedAdapterException()
    {
        Feature = "unknown";
    }

    public UnsupportedAdapterException(string message) : base(message)
    {
        Feature = "unknown";
    }

    public UnsupportedAdapterException(string message, Exception innerException) : base(message, innerException)
    {
        Feature = "unknown";
    }

    public UnsupportedAdapterException(string feature, string message) : base($"unsupported adapter feature '{feature}': {message}")
    {
        Feature = feature;
    }

    /// <summary>The refused feature, e.g. <c>modules_to_save</c> or <c>MoE-LoRA</c>.</summary>
    public string Feature { get; }
}
