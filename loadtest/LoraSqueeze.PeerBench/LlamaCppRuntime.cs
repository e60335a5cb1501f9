using LLama;
using LLama.Common;
using LLama.Native;
using System.Diagnostics;

namespace LoraSqueeze.PeerBench;

/// <summary>
/// llama.cpp through LLamaSharp 0.30.0 (the build its CPU backend package ships), driven token by token with
/// <c>llama_decode</c> exactly like <see cref="LoraSqueezeRuntime"/> drives the project's model. Contexts use one KV
/// stream per sequence (llama-server's layout for parallel slots) and llama.cpp's default f16 KV cache.
/// </summary>
public sealed class LlamaCppRuntime : IDisposable
{
    private readonly string _modelPath;
    private readonly int _threads;
    private readonly LLamaWeights _weights;
    private readonly LoraAdapter[] _adapters;

    static LlamaCppRuntime()
    {
        // llama.cpp logs every tensor it loads; only its warnings and errors go to stderr.
        NativeLibraryConfig.All.WithLogCallback((level, message) =>
        {
            if (level is LLamaLogLevel.Warning or LLamaLogLevel.Error) Console.Error.Write(message);
        });
    }

    public LlamaCppRuntime(string ggufPath, IReadOnlyList<string> adapterPaths, int threads)
    {
        if (!File.Exists(ggufPath)) throw new FileNotFoundException($"{ggufPath}: GGUF model not found", ggufPath);
        _modelPath = ggufPath;
        _threads = threads;
        _weights = LLamaWeights.LoadFromFile(new ModelParams(ggufPath) { GpuLayerCount = 0, Threads = threads, BatchThreads = threads });
        _adapters = adapterPaths.Select(p => _weights.NativeHandle.LoadLoraFromFile(p)).ToArray();
        Vocab = _weights.Vocab.Count;
    }

    public int Vocab { get; }

    /// <summary>A context; <paramref name="f32Cache"/>: a float32 KV cache like LoraSqueeze's (for the token check), else llama.cpp's default f16.</summary>
    private LLamaContext NewContext(int sequences, int contextLength, int batch, bool f32Cache = false)
    {
        var p = new ModelParams(_modelPath)
        {
            GpuLayerCount = 0, ContextSize = (uint)contextLength, BatchSize = (uint)Math.Max(512, batch), UBatchSize = 512,
            SeqMax = (uint)sequences, Threads = _threads, BatchThreads = _threads, KVUnified = false,
        };
        if (f32Cache) p = p with { TypeK = GGMLType.GGML_TYPE_F32, TypeV = GGMLType.GGML_TYPE_F32 };
        return _weights.CreateContext(p);
    }

    private void SetAdapter(LLamaContext ctx, int adapter)
    {
        // llama.cpp applies LoRA per context: the call replaces the context's set (an empty set = the base model)
        if (adapter < 0) ctx.NativeHandle.SetLoraAdapters(Span<(LoraAdapter, float)>.Empty);
        else ctx.NativeHandle.SetLoraAdapters(new[] { (_adapters[adapter], 1.0f) });
    }

    private static void Decode(LLamaContext ctx, LLamaBatch batch)
    {
        var r = ctx.NativeHandle.Decode(batch);
        if (r != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode: {r}");
    }

    private static int ArgMax(LLamaContext ctx, int i)
    {
        var l = ctx.NativeHandle.GetLogitsIth(i);
        int best = 0;
        for (int j = 1; j < l.Length; j++) if (l[j] > l[best]) best = j;
        return best;
    }

    /// <summary>
    /// Greedy tokens and their log-probabilities after <paramref name="ids"/> (no BOS added), on adapter
    /// <paramref name="adapter"/> (−1: base), with a float32 KV cache so the numbers compare with LoraSqueeze's.
    /// </summary>
    public (int[] Tokens, double[] Logprobs) Generate(IReadOnlyList<int> ids, int count, int adapter = -1)
    {
        using var ctx = NewContext(1, ids.Count + count + 8, ids.Count, f32Cache: true);
        SetAdapter(ctx, adapter);
        var batch = new LLamaBatch();
        for (int j = 0; j < ids.Count; j++) batch.Add((LLamaToken)ids[j], j, LLamaSeqId.Zero, j == ids.Count - 1);
        Decode(ctx, batch);
        var tokens = new int[count];
        var logprobs = new double[count];
        int last = ids.Count - 1;
        for (int g = 0; g < count; g++)
        {
            var l = ctx.NativeHandle.GetLogitsIth(last);
            int t = 0;
            for (int j = 1; j < l.Length; j++) if (l[j] > l[t]) t = j;
            double z = 0;
            foreach (var v in l) z += Math.Exp(v - l[t]);
            tokens[g] = t;
            logprobs[g] = -Math.Log(z);
            batch.Clear();
            batch.Add((LLamaToken)t, ids.Count + g, LLamaSeqId.Zero, true);
            Decode(ctx, batch);
            last = 0;
        }
        return (tokens, logprobs);
    }

    /// <summary>One timed run of <paramref name="test"/>: P prompt tokens per row, G greedy steps.</summary>
    public Measurement Run(string test, int promptLength, int generate, string weights, int round, int rep)
    {
        int rows = Workload.Rows(test);
        if (test.StartsWith("b8-mixed", StringComparison.Ordinal) && _adapters.Length == 0)
            throw new ArgumentException($"{test} needs adapters (--adapters)");
        if (test == "prefill")
        {
            using var ctx = NewContext(1, promptLength + 8, promptLength);
            SetAdapter(ctx, -1);
            var batch = new LLamaBatch();
            var ids = Workload.Prompt(0, promptLength, Vocab);
            for (int j = 0; j < promptLength; j++) batch.Add((LLamaToken)ids[j], j, LLamaSeqId.Zero, j == promptLength - 1);
            var sw = Stopwatch.StartNew();
            Decode(ctx, batch);
            int first = ArgMax(ctx, promptLength - 1);
            return new Measurement { Impl = "llama.cpp", Weights = weights, Test = test, Threads = _threads, Round = round, Rep = rep, Rows = 1, Tokens = promptLength, Milliseconds = sw.Elapsed.TotalMilliseconds, Row0 = [first] };
        }
        bool perContext = test == "b8-mixed-ctx";
        bool mixed = test.StartsWith("b8-mixed", StringComparison.Ordinal);
        var contexts = perContext
            ? Enumerable.Range(0, rows).Select(_ => NewContext(1, promptLength + generate + 8, promptLength)).ToArray()
            : [NewContext(rows, rows * (promptLength + generate + 8), rows * promptLength)];
        try
        {
            var next = new int[rows];
            var batch = new LLamaBatch();
            if (mixed)
            {
                // each request's prompt on its own adapter, one by one (either way llama.cpp must)
                for (int i = 0; i < rows; i++)
                {
                    var ctx = perContext ? contexts[i] : contexts[0];
                    SetAdapter(ctx, i % _adapters.Length);
                    batch.Clear();
                    var ids = Workload.Prompt(i, promptLength, Vocab);
                    var seq = perContext ? LLamaSeqId.Zero : (LLamaSeqId)i;
                    for (int j = 0; j < promptLength; j++) batch.Add((LLamaToken)ids[j], j, seq, j == promptLength - 1);
                    Decode(ctx, batch);
                    next[i] = ArgMax(ctx, promptLength - 1);
                }
            }
            else
            {
                SetAdapter(contexts[0], -1);
                for (int i = 0; i < rows; i++)
                {
                    var ids = Workload.Prompt(i, promptLength, Vocab);
                    for (int j = 0; j < promptLength; j++) batch.Add((LLamaToken)ids[j], j, (LLamaSeqId)i, j == promptLength - 1);
                }
                Decode(contexts[0], batch);   // the rows' prompts in one batch, as LoraSqueeze's one Forward
                for (int i = 0; i < rows; i++) next[i] = ArgMax(contexts[0], i * promptLength + promptLength - 1);
            }
            var steps = new List<double>();
            var row0 = new List<int> { next[0] };
            var total = Stopwatch.StartNew();
            for (int g = 0; g < generate; g++)
            {
                var sw = Stopwatch.StartNew();
                if (mixed)
                {
                    for (int i = 0; i < rows; i++)
                    {
                        var ctx = perContext ? contexts[i] : contexts[0];
                        if (!perContext) SetAdapter(ctx, i % _adapters.Length);
                        batch.Clear();
                        batch.Add((LLamaToken)next[i], promptLength + g, perContext ? LLamaSeqId.Zero : (LLamaSeqId)i, true);
                        Decode(ctx, batch);
                        next[i] = ArgMax(ctx, 0);
                    }
                }
                else
                {
                    batch.Clear();
                    for (int i = 0; i < rows; i++) batch.Add((LLamaToken)next[i], promptLength + g, (LLamaSeqId)i, true);
                    Decode(contexts[0], batch);
                    for (int i = 0; i < rows; i++) next[i] = ArgMax(contexts[0], i);
                }
                steps.Add(sw.Elapsed.TotalMilliseconds);
                row0.Add(next[0]);
            }
            return new Measurement
            {
                Impl = "llama.cpp", Weights = weights, Test = test, Threads = _threads, Round = round, Rep = rep, Rows = rows,
                Tokens = rows * generate, Milliseconds = total.Elapsed.TotalMilliseconds, StepMsMedian = Workload.Median(steps), Row0 = row0.Take(16).ToList(),
            };
        }
        finally
        {
            foreach (var c in contexts) c.Dispose();
        }
    }

    public void Dispose()
    {
        _weights.Dispose();   // llama.cpp frees a model's LoRA adapters with it
    }
}
