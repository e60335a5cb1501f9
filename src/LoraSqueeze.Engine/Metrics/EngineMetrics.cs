using Prometheus;

namespace LoraSqueeze.Engine.Metrics;

/// <summary>
/// Every metric the server exports (engine, adapter tiers and the front ends' request counters), in one place, on the server's own registry (so two servers in one process, as in
/// the tests, never share counters). Labels are bounded: method, status code, tier, result. No adapter-id label —
/// with many adapters it would be unbounded; per-adapter numbers are in Adapters.Get instead.
/// </summary>
public sealed class EngineMetrics
{
    private static readonly double[] LatencyBuckets = Histogram.ExponentialBuckets(0.005, 2, 14); // 5 ms .. ~41 s
    private static readonly double[] BatchBuckets = [1, 2, 4, 8, 16, 32, 64, 128];

    public EngineMetrics(CollectorRegistry registry)
    {
        Registry = registry;
        var f = Prometheus.Metrics.WithCustomRegistry(registry);
        Requests = f.CreateCounter("lorasqueeze_requests_total",
            "Requests by method (gRPC method, or the OpenAI HTTP route) and final status code (gRPC status name, or HTTP status).",
            new CounterConfiguration { LabelNames = ["method", "status"] });
        RequestDuration = f.CreateHistogram("lorasqueeze_request_duration_seconds", "End-to-end gRPC request latency.",
            new HistogramConfiguration { LabelNames = ["method"], Buckets = LatencyBuckets });
        TimeToFirstToken = f.CreateHistogram("lorasqueeze_time_to_first_token_seconds",
            "Time from accepting a generate request to its first generated token.",
            new HistogramConfiguration { Buckets = LatencyBuckets });
        GeneratedTokens = f.CreateCounter("lorasqueeze_generated_tokens_total", "Tokens generated.");
        PromptTokens = f.CreateCounter("lorasqueeze_prompt_tokens_total", "Prompt tokens accepted.");
        BatchSize = f.CreateHistogram("lorasqueeze_batch_size", "Sequences in each decode step.",
            new HistogramConfiguration { Buckets = BatchBuckets });
        QueueDepth = f.CreateGauge("lorasqueeze_queue_depth", "Requests waiting for the engine.");
        RunningRequests = f.CreateGauge("lorasqueeze_running_requests", "Sequences in the running batch.");
        AdapterLoads = f.CreateCounter("lorasqueeze_adapter_loads_total", "Adapter loads from disk by result (ok, error).",
            new CounterConfiguration { LabelNames = ["result"] });
        AdapterHits = f.CreateCounter("lorasqueeze_adapter_hits_total",
            "Adapter lookups by the tier that served them (device, host, disk = loaded from disk).",
            new CounterConfiguration { LabelNames = ["tier"] });
        AdapterEvictions = f.CreateCounter("lorasqueeze_adapter_evictions_total", "Adapters evicted, by tier left.",
            new CounterConfiguration { LabelNames = ["tier"] });
        SqueezeDuration = f.CreateHistogram("lorasqueeze_squeeze_duration_seconds", "Time to squeeze one adapter to the target rank.",
            new HistogramConfiguration { Buckets = LatencyBuckets });
        AdapterLoadDuration = f.CreateHistogram("lorasqueeze_adapter_load_duration_seconds", "Time to read, squeeze and cache one adapter.",
            new HistogramConfiguration { Buckets = LatencyBuckets });
        RetainedEnergy = f.CreateHistogram("lorasqueeze_adapter_retained_energy",
            "Share of spectral energy each loaded adapter kept after the squeeze (1 = lossless).",
            new HistogramConfiguration { Buckets = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0] });
        MinRetainedEnergy = f.CreateHistogram("lorasqueeze_adapter_min_retained_energy",
            "Worst module's share of spectral energy kept by each loaded adapter's squeeze (what --min-energy is checked against).",
            new HistogramConfiguration { Buckets = [0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0] });
        SlotsPerAdapter = f.CreateHistogram("lorasqueeze_adapter_slots_per_loaded_adapter",
            "Device slots each loaded adapter takes (k > 1: the energy floor squeezed it to k times the slot rank).",
            new HistogramConfiguration { Buckets = [1, 2, 3, 4, 6, 8, 12, 16] });
        BelowEnergyFloor = f.CreateCounter("lorasqueeze_adapter_below_energy_floor_total",
            "Adapters that kept less than --min-energy even at --max-slots-per-adapter, by what the server did.",
            new CounterConfiguration { LabelNames = ["action"] });
        TierBytes = f.CreateGauge("lorasqueeze_adapter_bytes", "Bytes of squeezed adapters held, by tier.",
            new GaugeConfiguration { LabelNames = ["tier"] });
        TierAdapters = f.CreateGauge("lorasqueeze_adapters", "Adapters held, by tier.",
            new GaugeConfiguration { LabelNames = ["tier"] });
        SlotsUsed = f.CreateGauge("lorasqueeze_adapter_slots_used", "Device slots holding an adapter.");
        SlotsTotal = f.CreateGauge("lorasqueeze_adapter_slots", "Device slots configured.");
        WarmupSeconds = f.CreateGauge("lorasqueeze_warmup_seconds", "Time the start-up warm-up steps took before the server reported ready (0: none ran).");
        SlotBytes = f.CreateGauge("lorasqueeze_adapter_slot_bytes", "Bytes of one device slot (every projection at the slot rank, in the slot dtype).");
        HostBudgetBytes = f.CreateGauge("lorasqueeze_host_cache_budget_bytes", "The host tier's budget in bytes (HostCacheBytes).");
        QueueWait = f.CreateHistogram("lorasqueeze_queue_wait_seconds", "Time from submission to admission into the running batch.",
            new HistogramConfiguration { Buckets = LatencyBuckets });
        KvCacheUsage = f.CreateGauge("lorasqueeze_kv_cache_usage_ratio",
            "Share of the KV cache's positions (rows × row length) held by running sequences, 0..1.");
        // The llm-d router's LoRA-affinity contract (vLLM's vllm:lora_requests_info; docs/server.md "Metrics for gateways"):
        // one series whose labels list the adapters, valued at the Unix time of its last update, so a scraper keeps the newest.
        LoraRequestsInfo = f.CreateGauge("lorasqueeze_lora_requests_info",
            "Adapter residency for gateways: max_lora = device slots, running_lora_adapters = adapters in device slots, " +
            "waiting_lora_adapters = adapters that queued requests wait for (comma-separated); the value is the Unix time of the last update.",
            new GaugeConfiguration { LabelNames = ["max_lora", "running_lora_adapters", "waiting_lora_adapters"] });
        PreloadPending = f.CreateGauge("lorasqueeze_adapter_preload_pending",
            "Adapters the start-up preload has still to load into the host tier (0 when it is finished or off).");
        PreloadFinished = f.CreateGauge("lorasqueeze_adapter_preload_finished",
            "1 once the start-up preload has finished (or when it is off), else 0.");

        // Every label value a counter or gauge can take exists from the start at 0, so alerts and rates see a series
        // (not "no data") before the first event.
        foreach (var result in (string[])["ok", "error", "remembered_error"]) AdapterLoads.WithLabels(result);
        foreach (var tier in (string[])["device", "host", "disk"]) AdapterHits.WithLabels(tier);
        foreach (var tier in (string[])["device", "host"])
        {
            AdapterEvictions.WithLabels(tier);
            TierBytes.WithLabels(tier);
            TierAdapters.WithLabels(tier);
        }
        // Process memory, CPU, GC and thread-pool figures (prometheus-net's .NET collector) on this registry too.
        DotNetStats.Register(registry);
    }

    public CollectorRegistry Registry { get; }

    public Counter Requests { get; }
    public Histogram RequestDuration { get; }
    public Histogram TimeToFirstToken { get; }
    public Counter GeneratedTokens { get; }
    public Counter PromptTokens { get; }
    public Histogram BatchSize { get; }
    public Gauge QueueDepth { get; }
    public Gauge RunningRequests { get; }
    public Counter AdapterLoads { get; }
    public Counter AdapterHits { get; }
    public Counter AdapterEvictions { get; }
    public Histogram SqueezeDuration { get; }
    public Histogram AdapterLoadDuration { get; }
    public Histogram RetainedEnergy { get; }
    public Histogram MinRetainedEnergy { get; }
    public Histogram SlotsPerAdapter { get; }
    public Counter BelowEnergyFloor { get; }
    public Gauge TierBytes { get; }
    public Gauge TierAdapters { get; }
    public Gauge SlotsUsed { get; }
    public Gauge SlotsTotal { get; }
    public Gauge WarmupSeconds { get; }
    public Gauge SlotBytes { get; }
    public Gauge HostBudgetBytes { get; }
    public Histogram QueueWait { get; }
    public Gauge KvCacheUsage { get; }
    public Gauge LoraRequestsInfo { get; }
    public Gauge PreloadPending { get; }
    public Gauge PreloadFinished { get; }
}
