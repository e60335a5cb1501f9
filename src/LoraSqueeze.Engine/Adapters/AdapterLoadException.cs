namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// An adapter that could not be read or squeezed (a broken file, an unsupported variant, a shape that does not fit
/// the model). The message names the adapter and the problem; the server keeps serving everything else.
/// </summary>
/// <param name="belowEnergyFloor">The squeeze could not keep the server's energy floor (<c>--min-energy</c>) within the slot cap.</param>
public sealed class AdapterLoadException(string adapterId, string message, Exception? inner = null, bool belowEnergyFloor = false)
    : Exception($"adapter '{adapterId}' failed to load: {message}", inner)
{
    public string AdapterId { get; } = adapterId;

    public bool BelowEnergyFloor { get; } = belowEnergyFloor;
}
