using System.Text.Json.Serialization;

namespace LoraSqueeze.PeerBench;

/// <summary>
/// The workloads both runtimes run, identically: prompt token ids <c>(7j + 13·row + 5) mod (V − 3)</c>, a prefill of
/// the whole prompt, then greedy decode steps whose arg-max is fed back (the peer harness's definition, so its numbers
/// and these compare). Tests: <c>prefill</c> (one prompt), <c>b1</c>, <c>b8</c> (base model, 1 or 8 sequences decoded
/// together), <c>b8-mixed</c> (8 sequences on 8 different adapters: LoraSqueeze batches them in one step; llama.cpp has
/// two ways, <c>b8-mixed-ctx</c> = one context per adapter, <c>b8-mixed-switch</c> = one context, adapter set before
/// each sequence's decode).
/// </summary>
public static class Workload
{
    public static readonly string[] OurTests = ["prefill", "b1", "b8", "b8-mixed"];
    public static readonly string[] LlamaTests = ["prefill", "b1", "b8", "b8-mixed-ctx", "b8-mixed-switch"];

    public static int[] Prompt(int row, int length, int vocab) =>
        Enumerable.Range(0, length).Select(j => (7 * j + 13 * row + 5) % (vocab - 3)).ToArray();

    /// <summary>
    /// The model of a shape — h1024 (the load test's model: hidden 1024, 4 layers) or h2048 (hidden 2048, 8 layers) —
    /// and eight PEFT LoRA adapters of <paramref name="adapterRank"/> for it, under <paramref name="work"/>/shape,
    /// written once by the load test's asset writer (ids a0000…a0007, one physical adapter each).
    /// </summary>
    public static (string ModelDir, LoadTest.Comparison.AdapterSet Adapters) EnsureAssets(string work, string shape, int adapterRank)
    {
        var (hidden, layers) = shape switch
        {
            "h1024" => (1024, 4),
            "h2048" => (2048, 8),
            _ => throw new ArgumentException($"--shape must be h1024 or h2048, got '{shape}'"),
        };
        string modelDir = LoadTest.Comparison.AssetWriter.EnsureModel(Path.Combine(work, shape, "model"), hidden, layers);
        return (modelDir, LoadTest.Comparison.AssetWriter.EnsureAdapters(modelDir, Path.Combine(work, shape, "adapters"), 8, [adapterRank], 8, 42));
    }

    public static int Rows(string test) => test.StartsWith("b8", StringComparison.Ordinal) ? 8 : 1;

    public static double Median(IEnumerable<double> xs)
    {
        var s = xs.Order().ToList();
        if (s.Count == 0) return double.NaN;
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[s.Count / 2 - 1] + s[s.Count / 2]) / 2;
    }
}

/// <summary>One timed run of one test on one runtime (a JSON line of <c>peerbench run</c>).</summary>
public sealed record Measurement
{
    [JsonPropertyName("impl")] public required string Impl { get; init; }
    /// <summary>Weight storage: f32, int8, bf16 (LoraSqueeze) or f32, q8_0 (llama.cpp).</summary>
    [JsonPropertyName("weights")] public required string Weights { get; init; }
    [JsonPropertyName("test")] public required string Test { get; init; }
    [JsonPropertyName("threads")] public int Threads { get; init; }
    [JsonPropertyName("round")] public int Round { get; init; }
    [JsonPropertyName("rep")] public int Rep { get; init; }
    [JsonPropertyName("rows")] public int Rows { get; init; }
    /// <summary>Tokens produced (prefill: prompt tokens; decode: rows × generated tokens).</summary>
    [JsonPropertyName("tokens")] public int Tokens { get; init; }
    [JsonPropertyName("ms")] public double Milliseconds { get; init; }
    [JsonPropertyName("step_ms_median")] public double StepMsMedian { get; init; }
    /// <summary>LoraSqueeze's decode tests: the prompts' prefill before the timed steps (not in <see cref="Milliseconds"/>); 0 for llama.cpp.</summary>
    [JsonPropertyName("prefill_ms")] public double PrefillMs { get; init; }
    /// <summary>
    /// LoraSqueeze's decode tests: tensors libtorch created per step of <see cref="LoraSqueeze.Model.CausalLM.Forward"/>
    /// (TorchSharp's per-thread <c>DisposeScopeManager.Statistics</c>), i.e. the libtorch calls that
    /// return a tensor (views included; in-place calls such as <c>index_copy_</c> return none and are not counted).
    /// </summary>
    [JsonPropertyName("tensors_per_step")] public double TensorsPerStep { get; init; }
    /// <summary>LoraSqueeze's decode tests: fork/joins of the kernel pool per step (<see cref="LoraSqueeze.Model.Kernels.KernelPool.Regions"/>).</summary>
    [JsonPropertyName("regions_per_step")] public double RegionsPerStep { get; init; }
    [JsonIgnore] public double TokensPerSecond => Tokens / (Milliseconds / 1000);
    /// <summary>Greedy tokens of row 0 (the first 16): both runtimes must agree on f32 weights.</summary>
    [JsonPropertyName("row0")] public IReadOnlyList<int> Row0 { get; init; } = [];
}
