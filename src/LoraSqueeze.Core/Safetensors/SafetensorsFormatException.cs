namespace LoraSqueeze.Core.Safetensors;

/// <summary>A safetensors file (or sharded index) that violates the format. The message names the file and, where
/// one is involved, the tensor.</summary>
public sealed class SafetensorsFormatException : Exception
{
    public SafetensorsFormatException(string path, string? tensor, string problem)
        : base(tensor is null ? $"{path}: {problem}" : $"{path}: tensor '{tensor}': {problem}")
    {
        FilePath = path;
        TensorName = tensor;
        Problem = problem;
    }

    public SafetensorsFormatException()
        : this("(unknown file)", null, "invalid safetensors data")
    {
    }

    public SafetensorsFormatException(string message)
        : base(message)
    {
        FilePath = "(unknown file)";
        Problem = message;
    }

    public SafetensorsFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
        FilePath = "(unknown file)";
        Problem = message;
    }

    /// <summary>The file that failed validation.</summary>
    public string FilePath { get; }

    /// <summary>The tensor involved, if any.</summary>
    public string? TensorName { get; }

    /// <summary>What is wrong, without the file and tensor prefix.</summary>
    public string Problem { get; }
}
