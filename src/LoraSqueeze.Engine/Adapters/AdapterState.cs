namespace LoraSqueeze.Engine.Adapters;

/// <summary>
/// Where one adapter is in its life, owned by the <see cref="AdapterManager"/>. Legal moves:
/// Disk → Loading → Host ⇄ Device; Loading → Disk (load failed); Host → Disk (host eviction, no lease left);
/// Device → Disk (slot eviction with no host copy); anything → Unloaded (Adapters.Unload; final).
/// In Device the host copy may or may not still be cached (<see cref="AdapterRecord.HostCopy"/>).
/// </summary>
public enum AdapterState
{
    Disk,
    Loading,
    Host,
    Device,
    Unloaded,
}
