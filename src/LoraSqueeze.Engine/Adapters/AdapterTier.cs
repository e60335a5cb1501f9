namespace LoraSqueeze.Engine.Adapters;

/// <summary>Where an adapter is: in a device slot, squeezed in host memory, or only on disk.</summary>
public enum AdapterTier
{
    Disk,
    Host,
    Device,
}

/// <summary>Metric label values for tiers (kept in one place so labels stay bounded).</summary>
public static class AdapterTierLabels
{
    public static string Label(this AdapterTier tier) => tier switch
    {
        AdapterTier.Device => "device",
        AdapterTier.Host => "host",
        _ => "disk",
    };
}
