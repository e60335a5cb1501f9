namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// An adapter (or base model) that cannot be read as it stands: a missing file, a config that disagrees with the
/// tensors, a NaN, a shape that does not fit. The message names the file, module or tensor at fault.
/// </summary>
public sealed class AdapterFormatException : Exception
{
    public AdapterFormatException()
    {
    }

    public AdapterFormatException(string message) : base(message)
    {
    }

    public AdapterFormatException(string message, Exception innerException) : base(message, innerException)
    {
    }
}
