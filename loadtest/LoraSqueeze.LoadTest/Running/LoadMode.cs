namespace LoraSqueeze.LoadTest.Running;

/// <summary>How requests are issued.</summary>
public enum LoadMode
{
    /// <summary>Open loop: Poisson arrivals at a rate, whatever the server's speed (S-LoRA §7.1).</summary>
    Open,

    /// <summary>Closed loop: a fixed number of clients, each sending its next request when the previous one ends.</summary>
    Closed,
}
