namespace LoraSqueeze.Engine.Scheduling;

/// <summary>The answer to "reserve this request's adapter": a device slot now, wait, or never.</summary>
public readonly record struct SlotReservation(SlotReservationKind Kind, int Slot, Exception? Error)
{
    public static SlotReservation Ready(int slot) => new(SlotReservationKind.Ready, slot, null);
    public static readonly SlotReservation Wait = new(SlotReservationKind.Wait, -1, null);
    public static SlotReservation Failed(Exception error) => new(SlotReservationKind.Failed, -1, error);
}

public enum SlotReservationKind
{
    Ready,
    Wait,
    Failed,
}

/// <summary>
/// The one question the scheduler asks about adapters (engine thread): can this request's adapter have a device slot
/// now? The server answers through the <see cref="Adapters.AdapterManager"/>; offline generation through a fixed map
/// (<see cref="Execution.InstalledAdapters"/>).
/// </summary>
public interface IAdapterReservations
{
    /// <summary>Called for requests with an adapter only; Ready's slot must already hold the adapter's factors.</summary>
    SlotReservation Reserve(Requests.GenerationRequest request);
}
