using LoraSqueeze.Model;

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

    /// <summary>
    /// Slot layout. <see cref="LoraLayout.Uniform"/> (the product): every adapter squeezed to <see cref="TargetRank"/>.
    /// <see cref="LoraLayout.Padded"/> (vLLM's and SGLang's layout, for comparisons): slots of rank
    /// <see cref="PaddedMaxRank"/>, each adapter kept exactly at its own source rank and zero-padded into its slot;
    /// adapters above <see cref="PaddedMaxRank"/> are refused, as vLLM refuses ranks above max_lora_rank.
    /// </summary>
    public LoraLayout LoraLayout { get; set; } = LoraLayout.Uniform;

    /// <summary>Slot rank of the padded layout (vLLM's max_lora_rank); unused with the uniform layout.</summary>
    public int PaddedMaxRank { get; set; } = 128;

    /// <summary>
    /// Storage dtype of the device slots: <c>float32</c> (default), <c>bfloat16</c> (half the slot memory and of the
    /// adapter bytes every decode step reads) or <c>int8</c> (a quarter, with a float32 scale per rank row). The LoRA
    /// term is still accumulated in float32. Host copies stay float32.
    /// </summary>
    public string SlotDType { get; set; } = "float32";

    /// <summary>
    /// Storage of the base model's projections and LM head: <c>float32</c> (default), <c>bfloat16</c> (half the bytes a
    /// decode step reads) or <c>int8</c> (a quarter, one float32 scale per output row; llama.cpp users' Q8_0 in spirit).
    /// The step still computes in float32. CPU only. <c>lorasqueeze eval-weights</c> measures what each costs.
    /// </summary>
    public string WeightDType { get; set; } = "float32";

    /// <summary>The torch type of <see cref="WeightDType"/>.</summary>
    public TorchSharp.torch.ScalarType WeightScalarType => Model.Lora.SlotDTypes.Parse(WeightDType, "Server:WeightDType");

    /// <summary>
    /// What int8 base weights multiply in a decode step: <c>float32</c> rows (default; the weights are widened) or
    /// <c>int8</c> rows quantised in blocks of 32 (llama.cpp's Q8_0 scheme, int8 × int8 dot products: faster where the
    /// widening is the bottleneck, a little less accurate; <c>lorasqueeze eval-weights</c> measures it). <c>int8</c>
    /// needs <see cref="WeightDType"/> <c>int8</c>.
    /// </summary>
    public string ActivationDType { get; set; } = "float32";

    /// <summary>True for <see cref="ActivationDType"/> int8.</summary>
    public bool Int8Activations => ActivationDType.Equals("int8", StringComparison.OrdinalIgnoreCase);

    /// <summary>How the batched LoRA term is computed; <see cref="LoraKernel.Bgmv"/> (default) is the fast path.</summary>
    public LoraKernel LoraKernel { get; set; } = LoraKernel.Bgmv;

    /// <summary>
    /// At start-up, load (and squeeze) every adapter under <see cref="AdapterRoots"/> into the host tier, in id order,
    /// until <see cref="HostCacheBytes"/> is full, as S-LoRA keeps its adapters in host memory. It runs in the
    /// background while the server serves; a request's own load always goes first. Progress: the log and the
    /// <c>lorasqueeze_adapter_preload_pending</c> gauge.
    /// </summary>
    public bool PreloadAdapters { get; set; }

    /// <summary>
    /// The energy floor (CLI <c>--min-energy</c>), off when null: an adapter whose squeeze to <see cref="TargetRank"/>
    /// keeps less than this share of Σσ² in any module is squeezed to k·TargetRank instead, the smallest k up to
    /// <see cref="MaxSlotsPerAdapter"/> that meets it in every module, and takes k device slots of rank TargetRank
    /// (docs/squeeze.md, "An energy floor at serve time"). Uniform layout only.
    /// </summary>
    public double? MinRetainedEnergy { get; set; }

    /// <summary>The most device slots one adapter may take under <see cref="MinRetainedEnergy"/> (at most <see cref="Slots"/>).</summary>
    public int MaxSlotsPerAdapter { get; set; } = 4;

    /// <summary>
    /// What happens to an adapter that misses <see cref="MinRetainedEnergy"/> even at <see cref="MaxSlotsPerAdapter"/>:
    /// <c>refuse</c> (default: the load fails, naming the energy it would keep) or <c>serve-at-cap</c> (served on the
    /// cap's slots with a warning in the log and <c>lorasqueeze_adapter_below_energy_floor_total</c>).
    /// </summary>
    public string BelowEnergyFloor { get; set; } = "refuse";

    /// <summary>True when <see cref="BelowEnergyFloor"/> is serve-at-cap (after <see cref="Validate"/>).</summary>
    public bool ServeBelowEnergyFloor => string.Equals(BelowEnergyFloor, "serve-at-cap", StringComparison.OrdinalIgnoreCase);

    /// <summary>
    /// What <see cref="MinRetainedEnergy"/> is checked against: <c>WorstModule</c> (default: every module must keep it) or
    /// <c>Mean</c> (the mean over modules, the retained_energy Adapters.Get reports).
    /// </summary>
    public Core.Squeeze.EnergyFloorMeasure EnergyFloorMeasure { get; set; } = Core.Squeeze.EnergyFloorMeasure.WorstModule;

    /// <summary>The floor as the squeeze takes it, null when off.</summary>
    public Core.Squeeze.EnergyFloor? EnergyFloor => MinRetainedEnergy is { } e ? new(e, MaxSlotsPerAdapter, EnergyFloorMeasure) : null;

    /// <summary>The slot dtype as a torch scalar type (after <see cref="Validate"/>).</summary>
    public TorchSharp.torch.ScalarType SlotScalarType => ParseSlotDType(SlotDType);

    private static TorchSharp.torch.ScalarType ParseSlotDType(string text) => Model.Lora.SlotDTypes.Parse(text, "Server:SlotDType");

    /// <summary>The rank every device slot holds: the target rank, or the padded maximum.</summary>
    public int SlotRank => LoraLayout == LoraLayout.Padded ? PaddedMaxRank : TargetRank;

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

    /// <summary>
    /// Decode steps run at start-up (at <see cref="MaxBatch"/> rows and at one) before the server reports ready, so the
    /// first requests do not pay for first-touch memory and first compilation; 0 turns the warm-up off.
    /// </summary>
    public int WarmupSteps { get; set; } = 32;

    /// <summary>Longest prompt accepted, in tokens.</summary>
    public int MaxPromptTokens { get; set; } = 1024;

    /// <summary>Largest max_tokens a request may ask for; also the default when a request leaves it 0.</summary>
    public int MaxTokens { get; set; } = 256;

    /// <summary>Directories searched for adapters by id (<c>&lt;root&gt;/&lt;id&gt;</c>); Load sources must lie inside one.</summary>
    public List<string> AdapterRoots { get; set; } = [];

    /// <summary>Adapter loads (read + squeeze) running at once; more wait. Squeezes are parallel inside libtorch already.</summary>
    public int MaxConcurrentLoads { get; set; } = 1;

    /// <summary>Bearer token required by Adapters.Load and Adapters.Unload; empty disables the check.</summary>
    public string AdminToken { get; set; } = "";

    /// <summary>
    /// A file holding the admin token (its first line), so the token is not visible in <c>ps</c> or the environment;
    /// read once at start-up by <see cref="ResolveAdminToken"/>. Empty: none.
    /// </summary>
    public string AdminTokenFile { get; set; } = "";

    /// <summary>Reads <see cref="AdminTokenFile"/> into <see cref="AdminToken"/>; throws naming the file when it cannot be used.</summary>
    public void ResolveAdminToken()
    {
        if (string.IsNullOrEmpty(AdminTokenFile)) return;
        if (!string.IsNullOrEmpty(AdminToken))
            throw new ArgumentException("Server:AdminToken and Server:AdminTokenFile are both set; give one");
        if (!File.Exists(AdminTokenFile)) throw new ArgumentException($"Server:AdminTokenFile '{AdminTokenFile}' does not exist");
        var token = File.ReadLines(AdminTokenFile).FirstOrDefault()?.Trim() ?? "";
        if (token.Length == 0) throw new ArgumentException($"Server:AdminTokenFile '{AdminTokenFile}' is empty");
        AdminToken = token;
        AdminTokenFile = "";
    }

    /// <summary>gRPC port (HTTP/2 without TLS).</summary>
    public int Port { get; set; } = 50051;

    /// <summary>Port serving /metrics (HTTP/1.1); /metrics is on <see cref="HttpPort"/> too.</summary>
    public int MetricsPort { get; set; } = 9090;

    /// <summary>
    /// Port of the OpenAI-compatible HTTP API (HTTP/1.1): /v1/models, /v1/completions, /v1/chat/completions,
    /// /v1/load_lora_adapter, /v1/unload_lora_adapter, /health and /metrics. Kestrel cannot serve HTTP/1.1 and
    /// cleartext HTTP/2 (gRPC) on one port, hence a port of its own.
    /// </summary>
    public int HttpPort { get; set; } = 8000;

    /// <summary>The name requests give as <c>model</c> for the base model; empty: the model folder's name.</summary>
    public string ServedModelName { get; set; } = "";

    /// <summary><see cref="ServedModelName"/>, or the model folder's name.</summary>
    public string ResolvedServedModelName =>
        ServedModelName.Length > 0 ? ServedModelName : Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(ModelPath)));

    /// <summary>Address to bind: loopback by default so a demo never listens on the network by accident.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>
    /// On SIGTERM, how long queued and running requests may still finish (new ones are refused) before the engine
    /// stops. Keep it below the orchestrator's grace period (Kubernetes' terminationGracePeriodSeconds).
    /// </summary>
    public int ShutdownDrainSeconds { get; set; } = 30;

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
        Positive(PaddedMaxRank, nameof(PaddedMaxRank));
        Positive(MaxConcurrentLoads, nameof(MaxConcurrentLoads));
        if (!Enum.IsDefined(LoraLayout)) throw new ArgumentException($"Server:LoraLayout must be Uniform or Padded (got {LoraLayout})");
        if (!Enum.IsDefined(LoraKernel)) throw new ArgumentException($"Server:LoraKernel must be Bgmv, Segmented or Gathered (got {LoraKernel})");
        _ = ParseSlotDType(SlotDType ?? "");
        if (Model.Lora.SlotDTypes.Parse(WeightDType ?? "", "Server:WeightDType") != TorchSharp.torch.ScalarType.Float32
            && !Device.StartsWith("cpu", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"Server:WeightDType {WeightDType} needs Server:Device cpu (the few-row CPU kernel reads packed weights; got device {Device})");
        if (!(ActivationDType ?? "").Equals("float32", StringComparison.OrdinalIgnoreCase) && !(ActivationDType ?? "").Equals("int8", StringComparison.OrdinalIgnoreCase))
            throw new ArgumentException($"Server:ActivationDType must be float32 or int8 (got '{ActivationDType}')");
        if (Int8Activations && Model.Lora.SlotDTypes.Parse(WeightDType ?? "", "Server:WeightDType") != TorchSharp.torch.ScalarType.Int8)
            throw new ArgumentException($"Server:ActivationDType int8 multiplies int8 weights: set Server:WeightDType int8 too (got {WeightDType})");
        if (MinRetainedEnergy is { } floor)
        {
            if (!(floor > 0 && floor <= 1)) throw new ArgumentException($"Server:MinRetainedEnergy must be in (0, 1] (got {floor})");
            if (LoraLayout != LoraLayout.Uniform)
                throw new ArgumentException("Server:MinRetainedEnergy needs the uniform layout (the padded layout keeps every adapter at its own rank already)");
            if (MaxSlotsPerAdapter < 1 || MaxSlotsPerAdapter > Slots)
                throw new ArgumentException($"Server:MaxSlotsPerAdapter must be between 1 and Server:Slots ({Slots}) (got {MaxSlotsPerAdapter}): an adapter on more slots than exist could never be installed");
        }
        if (!Enum.IsDefined(EnergyFloorMeasure)) throw new ArgumentException($"Server:EnergyFloorMeasure must be WorstModule or Mean (got {EnergyFloorMeasure})");
        if (!string.Equals(BelowEnergyFloor, "refuse", StringComparison.OrdinalIgnoreCase) && !ServeBelowEnergyFloor)
            throw new ArgumentException($"Server:BelowEnergyFloor must be refuse or serve-at-cap (got '{BelowEnergyFloor}')");
        Positive(MaxBatch, nameof(MaxBatch));
        Positive(MaxTokensPerStep, nameof(MaxTokensPerStep));
        Positive(QueueLength, nameof(QueueLength));
        if (WarmupSteps < 0 || WarmupSteps > 10_000) throw new ArgumentException($"Server:WarmupSteps must be between 0 and 10000 (got {WarmupSteps})");
        Positive(MaxPromptTokens, nameof(MaxPromptTokens));
        Positive(MaxTokens, nameof(MaxTokens));
        if (ShutdownDrainSeconds < 0) throw new ArgumentException($"Server:ShutdownDrainSeconds must not be negative (got {ShutdownDrainSeconds})");
        if (HostCacheBytes < 0) throw new ArgumentException($"Server:HostCacheBytes must not be negative (got {HostCacheBytes})");
        if (Port < 0 || Port > 65535) throw new ArgumentException($"Server:Port out of range (got {Port})");
        if (MetricsPort < 0 || MetricsPort > 65535) throw new ArgumentException($"Server:MetricsPort out of range (got {MetricsPort})");
        if (HttpPort < 0 || HttpPort > 65535) throw new ArgumentException($"Server:HttpPort out of range (got {HttpPort})");
        var ports = new[] { ("Port", Port), ("MetricsPort", MetricsPort), ("HttpPort", HttpPort) }.Where(p => p.Item2 != 0).ToList();
        foreach (var clash in ports.GroupBy(p => p.Item2).Where(g => g.Count() > 1))
            throw new ArgumentException($"Server:{string.Join(" and Server:", clash.Select(p => p.Item1))} must differ (both {clash.Key})");
        if (ServedModelName.Length > 0 && (ServedModelName.Trim() != ServedModelName || ServedModelName.Length > 256))
            throw new ArgumentException($"Server:ServedModelName '{ServedModelName}' must have no leading or trailing spaces and at most 256 characters");
        if (string.IsNullOrWhiteSpace(ModelPath)) throw new ArgumentException("Server:ModelPath is required");
        foreach (var root in AdapterRoots)
        {
            if (!Directory.Exists(root)) throw new ArgumentException($"Server:AdapterRoots: '{root}' does not exist (or is not a folder)");
        }
    }
}
