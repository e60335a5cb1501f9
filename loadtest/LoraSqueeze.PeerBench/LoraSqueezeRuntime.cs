using System.Diagnostics;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Modules;
using static TorchSharp.torch;

namespace LoraSqueeze.PeerBench;

/// <summary>
/// LoraSqueeze's side: the model runtime the server's engine steps (<see cref="CausalLM.Forward"/> over a KV cache),
/// adapters squeezed to one rank and installed in slots as the server does, driven like <see cref="LlamaCppRuntime"/>.
/// </summary>
public sealed class LoraSqueezeRuntime : IDisposable
{
    private readonly CausalLM _model;
    private readonly int _adapters;
    private readonly int _threads;

    public LoraSqueezeRuntime(string modelDir, IReadOnlyList<string> adapterDirs, int rank, int threads, ModelLoadOptions? options = null)
    {
        _threads = threads;
        _adapters = adapterDirs.Count;
        _model = CausalLM.Load(modelDir, CPU, (options ?? new ModelLoadOptions()) with { AdapterRank = rank, AdapterSlots = Math.Max(1, adapterDirs.Count) });
        for (int s = 0; s < adapterDirs.Count; s++)
        {
            var (w, _) = AdapterSqueezer.LoadAndSqueeze(adapterDirs[s], rank, new SqueezeOptions(), modelDir);
            using (w) _model.Adapters.Install(s, w);
        }
    }

    public CausalLM Model => _model;

    public int Vocab => _model.Config.VocabSize;

    /// <summary>Greedy tokens and their log-probabilities after <paramref name="ids"/>, on slot <paramref name="slot"/> (−1: base).</summary>
    public (int[] Tokens, double[] Logprobs) Generate(IReadOnlyList<int> ids, int count, int slot = -1)
    {
        using var mode = inference_mode();
        using var cache = _model.CreateCache(1, ids.Count + count + 8);
        var tokens = new int[count];
        var logprobs = new double[count];
        int[] input = [.. ids];
        int pos = 0;
        for (int g = 0; g < count; g++)
        {
            using var scope = NewDisposeScope();
            var logits = _model.Forward([new SequenceChunk(0, pos, input, slot)], cache);      // [1, V]
            var lp = logits.to(ScalarType.Float64).log_softmax(-1);                             // [1, V]
            int t = (int)lp.argmax(-1).item<long>();
            tokens[g] = t;
            logprobs[g] = lp[0, t].item<double>();
            pos += input.Length;
            input = [t];
        }
        return (tokens, logprobs);
    }

    /// <summary>One timed run of <paramref name="test"/> (<see cref="Workload"/>).</summary>
    public Measurement Run(string test, int promptLength, int generate, string weights, int round, int rep)
    {
        using var mode = inference_mode();
        int rows = Workload.Rows(test);
        bool mixed = test == "b8-mixed";
        if (mixed && _adapters == 0) throw new ArgumentException("b8-mixed needs adapters (--adapters)");
        int SlotOf(int row) => mixed ? row % _adapters : -1;
        if (test == "prefill")
        {
            using var cache = _model.CreateCache(1, promptLength + 8);
            var sw = Stopwatch.StartNew();
            int first;
            using (NewDisposeScope()) first = ArgMax(_model.Forward([new SequenceChunk(0, 0, Workload.Prompt(0, promptLength, Vocab), -1)], cache))[0];
            return new Measurement { Impl = "lorasqueeze", Weights = weights, Test = test, Threads = _threads, Round = round, Rep = rep, Rows = 1, Tokens = promptLength, Milliseconds = sw.Elapsed.TotalMilliseconds, Row0 = [first] };
        }
        using var kv = _model.CreateCache(rows, promptLength + generate + 8);
        int[] next;
        var prefill = Stopwatch.StartNew();
        using (NewDisposeScope())
            next = ArgMax(_model.Forward(Enumerable.Range(0, rows).Select(i => new SequenceChunk(i, 0, Workload.Prompt(i, promptLength, Vocab), SlotOf(i))).ToList(), kv));
        double prefillMs = prefill.Elapsed.TotalMilliseconds;
        var steps = new List<double>();
        var row0 = new List<int> { next[0] };
        long tensors = 0, regions = 0;
        var total = Stopwatch.StartNew();
        for (int g = 0; g < generate; g++)
        {
            var sw = Stopwatch.StartNew();
            using (NewDisposeScope())
            {
                var cur = next;
                var chunks = Enumerable.Range(0, rows).Select(i => new SequenceChunk(i, promptLength + g, [cur[i]], SlotOf(i))).ToList();
                long t0 = TensorsCreated(), r0 = LoraSqueeze.Model.Kernels.KernelPool.Shared.Regions;
                var logits = _model.Forward(chunks, kv);
                tensors += TensorsCreated() - t0;
                regions += LoraSqueeze.Model.Kernels.KernelPool.Shared.Regions - r0;
                next = ArgMax(logits);
            }
            steps.Add(sw.Elapsed.TotalMilliseconds);
            row0.Add(next[0]);
        }
        return new Measurement
        {
            Impl = "lorasqueeze", Weights = weights, Test = test, Threads = _threads, Round = round, Rep = rep, Rows = rows,
            Tokens = rows * generate, Milliseconds = total.Elapsed.TotalMilliseconds, StepMsMedian = Workload.Median(steps), Row0 = row0.Take(16).ToList(),
            PrefillMs = prefillMs, TensorsPerStep = (double)tensors / generate, RegionsPerStep = (double)regions / generate,
        };
    }

    /// <summary>Tensors this thread has created so far (TorchSharp's per-thread lifetime statistics; <c>Tensor.TotalCount</c> is the live count).</summary>
    private static long TensorsCreated()
    {
        var s = TorchSharp.DisposeScopeManager.Statistics.TensorStatistics;
        return s.CreatedInScopeCount + s.CreatedOutsideScopeCount;
    }

    private static int[] ArgMax(Tensor logits)
    {
        using var idx = logits.argmax(1).cpu();    // [rows]
        return idx.data<long>().ToArray().Select(x => (int)x).ToArray();
    }

    public void Dispose() => _model.Dispose();
}
