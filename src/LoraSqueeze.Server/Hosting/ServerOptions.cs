namespace LoraSqueeze.Server.Hosting;

/// <summary>
/// Every ops knob of the server, bound from the <c>Server</c> section of configuration (appsettings.json, then
/// environment variables with the <c>LORASQUEEZE_</c> prefix such as <c>LORASQUEEZE_SERVER__TARGETRANK</c>, then CLI
/// flags). Defaults suit the demo model on a laptop.
/// </summary>
public sealed class ServerOptions
{
    public const string SectionName = "Server";

    /// <summary>Base model directory (Hugging Face layout). Empty: the CLI generates and serves the demo model.</summary>
    public string ModelPath { get; set; } = "";

    /// <summary>Torch device: cpu, cuda or cuda:N.</summary>
    public string Device { get; set; } = "cpu";

    /// <summary>Every adapter is squeezed to this rank on load; it is also the rank of the device slots.</summary>
    public int TargetRank { get; set; } = 8;

    /// <summary>Device slots: adapters resident next to the model at once.</summary>
    public int Slots { get; set; } = 4;

    /// <summary>Host tier budget in bytes for squeezed adapters (MemoryCache SizeLimit).</summary>
    public long HostCacheBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>Sequences decoded together in one step.</summary>
    public int MaxBatch { get; set; } = 8;

    /// <summary>Prompt plus generated tokens processed in one step (bounds prefill work per step).</summary>
    public int MaxTokensPerStep { get; set; } = 512;

    /// <summary>Requests waiting for the engine before new ones are refused with RESOURCE_EXHAUSTED.</summary>
    public int QueueLength { get; set; } = 64;

    /// <summary>Longest prompt accepted, in tokens.</summary>
    public int MaxPromptTokens { get; set; } = 1024;

    /// <summary>Largest max_tokens a request may ask for; also the default when a request leaves it 0.</summary>
    public int MaxTokens { get; set; } = 256;

    /// <summary>Directories searched for adapters by id (<c>&lt;root&gt;/&lt;id&gt;</c>); Load sources must lie inside one.</summary>
    public List<string> AdapterRoots { get; set; } = [];

    /// <summary>Bearer token required by Adapters.Load and Adapters.Unload; empty disables the check.</summary>
    public string AdminToken { get; set; } = "";

    /// <summary>gRPC port (HTTP/2 without TLS).</summary>
    public int Port { get; set; } = 50051;

    /// <summary>Port serving /metrics (HTTP/1.1).</summary>
    public int MetricsPort { get; set; } = 9090;

    /// <summary>Address to bind: loopback by default so a demo never listens on the network by accident.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>Torch intra-op threads; 0 keeps libtorch's default.</summary>
    public int TorchThreads { get; set; }

    /// <summary>Checks the values and names the first bad one.</summary>
    public void Validate()
    {
        static void Positive(int value, string name)
        {
            if (value <= 0) throw new ArgumentException($"Server:{name} must be positive (got {value})");
        }
        Positive(TargetRank, nameof(TargetRank));
        Positive(Slots, nameof(Slots));
        Positive(MaxBatch, nameof(MaxBatch));
        Positive(MaxTokensPerStep, nameof(MaxTokensPerStep));
        Positive(QueueLength, nameof(QueueLength));
        Positive(MaxPromptTokens, nameof(MaxPromptTokens));
        Positive(MaxTokens, nameof(MaxTokens));
        if (HostCacheBytes < 0) throw new ArgumentException($"Server:HostCacheBytes must not be negative (got {HostCacheBytes})");
        if (Port < 0 || Port > 65535) throw new ArgumentException($"Server:Port out of range (got {Port})");
        if (MetricsPort < 0 || MetricsPort > 65535) throw new ArgumentException($"Server:MetricsPort out of range (got {MetricsPort})");
        if (Port != 0 && Port == MetricsPort) throw new ArgumentException("Server:Port and Server:MetricsPort must differ");
        if (string.IsNullOrWhiteSpace(ModelPath)) throw new ArgumentException("Server:ModelPath is required");
    }
}
