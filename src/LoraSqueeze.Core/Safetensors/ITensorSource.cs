using TorchSharp;

namespace LoraSqueeze.Core.Safetensors;

/// <summary>A set of named tensors that can be read one at a time (a single safetensors file or a sharded checkpoint).</summary>
public interface ITensorSource : IDisposable
{
    /// <summary>A human-readable location for error messages (file or index path).</summary>
    string Location { get; }

    /// <summary>All tensor names.</summary>
    IReadOnlyCollection<string> Names { get; }

    /// <summary>Header entry for a tensor, or null when absent.</summary>
    SafetensorsTensorInfo? Find(string name);

    /// <summary>Reads one tensor into a new CPU tensor of its stored dtype (or converted to <paramref name="dtype"/>).</summary>
    torch.Tensor ReadTensor(string name, torch.ScalarType? dtype = null);
}
