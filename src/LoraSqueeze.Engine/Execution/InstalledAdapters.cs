using System.Globalization;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;

namespace LoraSqueeze.Engine.Execution;

/// <summary>
/// Adapter reservations for offline generation (the CLI's <c>generate</c>, demo samples, tests): adapters installed
/// into fixed slots up front, named <c>slot-N</c> (<see cref="SlotId"/>). No tiers, no eviction.
/// </summary>
public sealed class InstalledAdapters(Func<int, bool> isInstalled) : IAdapterReservations
{
    private const string Prefix = "slot-";

    /// <summary>The adapter id of device slot <paramref name="slot"/>.</summary>
    public static string SlotId(int slot) => Prefix + slot.ToString(CultureInfo.InvariantCulture);

    /// <summary>The slot an id names when that slot holds an adapter, else null.</summary>
    public int? SlotOf(string adapterId) =>
        adapterId.StartsWith(Prefix, StringComparison.Ordinal)
        && int.TryParse(adapterId.AsSpan(Prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int slot)
        && isInstalled(slot) ? slot : null;

    public SlotReservation Reserve(GenerationRequest request) =>
        SlotOf(request.AdapterId!) is int slot
            ? SlotReservation.Ready(slot)
            : SlotReservation.Failed(new ArgumentException($"request {request.Id}: adapter '{request.AdapterId}' holds no installed slot"));
}
