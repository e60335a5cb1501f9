using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Kernels;
using LoraSqueeze.Model.Modules;
using LoraSqueeze.Testing;
using static TorchSharp.torch;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze bench decode [--quick] [--device D] [--out FILE]</c>: decode-step time with B sequences each on a
/// distinct adapter against the base model alone (same run, interleaved) for the uniform layout at several ranks, the
/// padded layout (rank-16 adapters in rank-128 slots, as vLLM/SGLang would hold them), the gathered kernel, and
/// multi-slot adapters (the energy floor: rank k·8 adapters on k slots of rank 8, alone and mixed with one-slot ones);
/// on a demo-size model and on one Llama-2-7B-shaped layer with random weights; plus prefill tokens/s. Prints Markdown.
/// </summary>
public static class DecodeBenchCommand
{
    public static Command Create()
    {
        var decode = new Command("decode", "Decode step time with many adapters vs base-only vs the padded layout.");
        var quick = new Option<bool>("--quick") { Description = "Fewer repetitions (a few minutes on 2 CPU cores)." };
        var device = new Option<string>("--device") { Description = "cpu (default), cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        var output = new Option<string?>("--out") { Description = "Also write the Markdown report to this file." };
        var only = new Option<string>("--shape") { Description = "all (default), demo, 7b or h1024.", DefaultValueFactory = _ => "all" };
        var rows = new Option<string>("--rows")
        {
            Description = "all (default), multi-slot (the k-slot rows and their one-slot baselines) or base-kernel (base decode: the few-row GEMM against libtorch's linear).",
            DefaultValueFactory = _ => "all",
        };
        rows.AcceptOnlyFromAmong("all", "multi-slot", "base-kernel");
        decode.Options.Add(only);
        decode.Options.Add(rows);
        decode.Options.Add(quick);
        decode.Options.Add(device);
        decode.Options.Add(output);
        decode.SetAction(parse => CliErrors.Run(() =>
        {
            var dev = TorchRuntime.ResolveDevice(parse.GetValue(device));
            var report = parse.GetValue(rows) == "base-kernel"
                ? RunBaseKernels(dev, parse.GetValue(quick), parse.GetValue(only) ?? "all")
                : Run(dev, parse.GetValue(quick), parse.GetValue(only) ?? "all", parse.GetValue(rows) == "multi-slot");
            Console.WriteLine(report);
            if (parse.GetValue(output) is { } path) File.WriteAllText(path, report);
            return 0;
        }));
        return decode;
    }

    private sealed record Shape(string Name, ModelConfig Config);

    /// <summary>One row group: slots of <paramref name="SlotRank"/> holding adapters of rank <paramref name="AdapterRank"/>;
    /// <paramref name="SlotsPerAdapter"/> &gt; 1: each adapter on that many slots (rank k·slot rank), every other one
    /// when <paramref name="Mixed"/> (the rest on one slot at the slot rank).</summary>
    private sealed record Variant(LoraLayout Layout, int SlotRank, int AdapterRank, ScalarType SlotDType, int SlotsPerAdapter = 1, bool Mixed = false)
    {
        public int SlotsOf(int adapter) => Mixed && adapter % 2 == 0 ? 1 : SlotsPerAdapter;

        public int RankOf(int adapter) => SlotsPerAdapter > 1 ? SlotRank * SlotsOf(adapter) : AdapterRank;
    }

    private static Shape[] Shapes(string shapeFilter)
    {
        var shapes = new[]
        {
            new Shape("demo (hidden 512, 4 layers, vocab 4096)", Config(512, 1376, 4, 8, 4096)),
            new Shape("one Llama-2-7B layer (hidden 4096, intermediate 11008, vocab 256)", Config(4096, 11008, 1, 32, 256)),
            new Shape("the load test's h1024 (hidden 1024, intermediate 2816, 4 layers, 4 KV heads, vocab 300)", Config(1024, 2816, 4, 16, 300, kvHeads: 4)),
        };
        if (shapeFilter is not ("all" or "demo" or "7b" or "h1024")) throw new ArgumentException($"--shape {shapeFilter}: expected all, demo, 7b or h1024");
        shapes = shapeFilter switch
        {
            "demo" => shapes[..1],
            "7b" => shapes[1..2],
            "h1024" => shapes[2..],
            _ => shapes,
        };
        return shapes;
    }

    /// <summary>
    /// Base-model decode steps (no adapters) with every projection and the LM head on libtorch's <c>linear</c> against
    /// the few-row GEMM (<see cref="BaseKernel.FewRows"/>), interleaved in one run; with the weight bytes a step reads and
    /// the read rate each kernel reaches.
    /// </summary>
    public static string RunBaseKernels(Device device, bool quick, string shapeFilter)
    {
        int reps = quick ? 7 : 21;
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Device: {device.type}, torch threads: {get_num_threads()}, repetitions per cell: {reps}, the two kernels interleaved step by step; best of the repetitions.");
        sb.AppendLine();
        foreach (var shape in Shapes(shapeFilter))
        {
            using var model = CausalLM.Create(shape.Config, device, new ModelLoadOptions { AdapterSlots = 0 });
            TinyModelFactory.Randomize(model, 1);
            using var cache = model.CreateCache(32, 160);
            double bytes = model.Projections.Sum(p => (double)p.Weight.numel()) * 4 + (double)model.LmHead.numel() * 4;
            sb.AppendLine(CultureInfo.InvariantCulture, $"## {shape.Name}: {bytes / 1e6:F1} MB of float32 weights per step");
            sb.AppendLine();
            sb.AppendLine("| B | libtorch linear ms | few-row GEMM ms | speed-up | libtorch GB/s | few-row GB/s |");
            sb.AppendLine("|---|---|---|---|---|---|");
            foreach (int b in new[] { 1, 4, 8, 16 })
            {
                using var mode = inference_mode();
                var chunks = Enumerable.Range(0, b).Select(i => new SequenceChunk(i, 100, [i + 1], -1)).ToList();
                var (lib, few) = (new List<double>(), new List<double>());
                for (int r = -2; r < reps; r++)
                {
                    model.SetBaseKernel(BaseKernel.Libtorch);
                    double t0 = Time(() => model.Forward(chunks, cache));
                    model.SetBaseKernel(BaseKernel.FewRows);
                    double t1 = Time(() => model.Forward(chunks, cache));
                    if (r >= 0) { lib.Add(t0); few.Add(t1); }
                }
                double l = Best(lib), f = Best(few);
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {b} | {l:F2} | {f:F2} | {l / f:F2} | {bytes / l / 1e6:F1} | {bytes / f / 1e6:F1} |");
            }
            sb.AppendLine();
            // The GEMMs alone: every projection of every layer and the LM head in order, B rows each (the weights come
            // from DRAM, as in a step: together they are far larger than the caches).
            sb.AppendLine("GEMMs alone (every projection and the LM head of one step, in order, B rows each):");
            sb.AppendLine();
            sb.AppendLine("| B | libtorch linear ms | few-row GEMM ms | speed-up | libtorch GB/s | few-row GB/s |");
            sb.AppendLine("|---|---|---|---|---|---|");
            var weights = model.Projections.Select(p => p.Weight).Append(model.LmHead).ToList();
            foreach (int b in new[] { 1, 4, 8, 16 })
            {
                using var mode = inference_mode();
                using var inputs = NewDisposeScope();
                var xs = weights.Select(w => randn(b, w.shape[1], device: device)).ToList();   // [B, in] per projection
                var (lib, few) = (new List<double>(), new List<double>());
                for (int r = -2; r < reps; r++)
                {
                    double t0 = Time(() => Chain(xs, weights, BaseKernel.Libtorch));
                    double t1 = Time(() => Chain(xs, weights, BaseKernel.FewRows));
                    if (r >= 0) { lib.Add(t0); few.Add(t1); }
                }
                double l = Best(lib), f = Best(few);
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {b} | {l:F2} | {f:F2} | {l / f:F2} | {bytes / l / 1e6:F1} | {bytes / f / 1e6:F1} |");
            }
            sb.AppendLine();
        }
        sb.AppendLine("GB/s = weight bytes of one step ÷ step time (attention, norms and the KV cache are in the time but not the bytes).");
        return sb.ToString();
    }

    /// <summary>Every weight's product with its input through one kernel; returns the last output (for <see cref="Time"/>).</summary>
    private static Tensor Chain(List<Tensor> xs, List<Tensor> weights, BaseKernel kernel)
    {
        Tensor last = xs[0];
        for (int i = 0; i < weights.Count; i++) last = BaseLinear.Forward(xs[i], weights[i], null, kernel, get_num_threads());
        return last;
    }

    public static string Run(Device device, bool quick, string shapeFilter = "all", bool multiSlotOnly = false)
    {
        int reps = quick ? 7 : 21;
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"Device: {device.type}, torch threads: {get_num_threads()}, repetitions per cell: {reps}, base and LoRA steps interleaved; best of the repetitions (robust to other processes on a shared machine).");
        sb.AppendLine();
        var shapes = Shapes(shapeFilter);
        int[] batches = [1, 8, 32];
        foreach (var shape in shapes)
        {
            sb.AppendLine(CultureInfo.InvariantCulture, $"## {shape.Name}");
            sb.AppendLine();
            sb.AppendLine("| layout | slot rank | adapter rank | slots per adapter | slot dtype | kernel | B | base ms | LoRA ms | ratio | bytes bound |");
            sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
            Variant[] all =
            [
                new(LoraLayout.Uniform, 8, 8, ScalarType.Float32), new(LoraLayout.Uniform, 16, 16, ScalarType.Float32),
                new(LoraLayout.Uniform, 16, 16, ScalarType.BFloat16), new(LoraLayout.Uniform, 16, 16, ScalarType.Int8),
                new(LoraLayout.Uniform, 32, 32, ScalarType.Float32), new(LoraLayout.Uniform, 64, 64, ScalarType.Float32),
                new(LoraLayout.Padded, 128, 16, ScalarType.Float32), new(LoraLayout.Padded, 128, 16, ScalarType.BFloat16),
                new(LoraLayout.Padded, 128, 16, ScalarType.Int8),
                // The energy floor: rank 16 and 32 adapters on 2 and 4 slots of rank 8 (compare the one-slot r = 16 and
                // r = 32 rows), and a batch where every other adapter takes 4 slots and the rest one.
                new(LoraLayout.Uniform, 8, 16, ScalarType.Float32, 2), new(LoraLayout.Uniform, 8, 32, ScalarType.Float32, 4),
                new(LoraLayout.Uniform, 8, 32, ScalarType.Float32, 4, Mixed: true), new(LoraLayout.Uniform, 8, 32, ScalarType.Int8, 4, Mixed: true),
            ];
            var variants = multiSlotOnly
                ? all.Where(v => v.SlotsPerAdapter > 1 || (v.Layout == LoraLayout.Uniform && v.SlotDType == ScalarType.Float32 && v.SlotRank is 8 or 16 or 32)).ToArray()
                : all;
            foreach (var v in variants)
            {
                var (layout, slotRank, adapterRank, slotDType) = (v.Layout, v.SlotRank, v.AdapterRank, v.SlotDType);
                int totalSlots = Enumerable.Range(0, 32).Sum(v.SlotsOf);
                var options = new ModelLoadOptions
                {
                    AdapterRank = slotRank, AdapterSlots = totalSlots, LoraLayout = layout, PaddedMaxRank = slotRank, SlotDType = slotDType,
                };
                using var model = CausalLM.Create(shape.Config, device, options);
                TinyModelFactory.Randomize(model, 1);
                var heads = new int[32];
                for (int s = 0, next = 0; s < 32; s++)
                {
                    int k = v.SlotsOf(s);
                    using var w = TinyModelFactory.RandomAdapter(model, $"a{s}", v.RankOf(s), 100 + s);
                    model.Adapters.Install(Enumerable.Range(next, k).ToArray(), w);
                    heads[s] = next;
                    next += k;
                }
                using var cache = model.CreateCache(32, 160);
                var kernels = layout == LoraLayout.Uniform && slotRank == 16 && slotDType == ScalarType.Float32
                    ? new[] { LoraKernel.Bgmv, LoraKernel.Segmented, LoraKernel.Gathered }
                    : [LoraKernel.Bgmv, LoraKernel.Segmented];
                string slotsText = v.SlotsPerAdapter == 1 ? "1" : v.Mixed ? $"1 and {v.SlotsPerAdapter}" : $"{v.SlotsPerAdapter}";
                string rankText = v.Mixed ? $"{slotRank} and {v.SlotsPerAdapter * slotRank}" : adapterRank.ToString(CultureInfo.InvariantCulture);
                foreach (var kernel in kernels)
                {
                    model.SetLoraKernel(kernel);
                    foreach (int b in batches)
                    {
                        var (baseMs, loraMs) = TimeDecode(model, cache, b, reps, heads);
                        // Slots the B rows read: Σ over their distinct adapters of the slots each holds.
                        int slotsRead = Enumerable.Range(0, Math.Min(b, 32)).Sum(v.SlotsOf);
                        double bound = 1 + BytesRatio(shape.Config, slotRank, slotsRead) * (slotDType switch
                        {
                            ScalarType.BFloat16 => 0.5,
                            ScalarType.Int8 => 0.25,
                            _ => 1.0,
                        });
                        sb.AppendLine(CultureInfo.InvariantCulture,
                            $"| {layout} | {slotRank} | {rankText} | {slotsText} | {SlotName(slotDType)} | {kernel} | {b} | {baseMs:F2} | {loraMs:F2} | {loraMs / baseMs:F3} | {bound:F3} |");
                    }
                }
                if (layout == LoraLayout.Uniform && slotRank == 16 && slotDType == ScalarType.Float32 && !multiSlotOnly)
                {
                    model.SetLoraKernel(LoraKernel.Bgmv);
                    var (baseTps, loraTps) = TimePrefill(model, cache, 8, 128, quick ? 2 : 5);
                    sb.AppendLine();
                    sb.AppendLine(CultureInfo.InvariantCulture,
                        $"Prefill, 8 sequences × 128 tokens, r = 16, 8 distinct adapters: base {baseTps:F0} tokens/s, LoRA {loraTps:F0} tokens/s (ratio {baseTps / loraTps:F3}).");
                    sb.AppendLine();
                }
            }
            sb.AppendLine();
            sb.AppendLine("bytes bound = 1 + (slots read × slot rank × Σ(in+out)) / Σ(in·out) over the layer's 7 projections (slots read: " +
                "Σ over the step's distinct adapters of the slots each holds): " +
                "the extra weight bytes a memory-bound decode step must read (the FLOPs ratio per token is r·(in+out)/(in·out), smaller still).");
            sb.AppendLine();
        }
        return sb.ToString();
    }

    private static string SlotName(ScalarType t) => t switch
    {
        ScalarType.BFloat16 => "bf16",
        ScalarType.Int8 => "int8",
        _ => "f32",
    };

    private static ModelConfig Config(int hidden, int inter, int layers, int heads, int vocab, int? kvHeads = null) => new()
    {
        ModelType = "llama", VocabSize = vocab, HiddenSize = hidden, IntermediateSize = inter, NumHiddenLayers = layers,
        NumAttentionHeads = heads, NumKeyValueHeads = kvHeads ?? heads, MaxPositionEmbeddings = 4096, RmsNormEps = 1e-5,
        TorchDtype = "float32",
    };

    /// <summary>Extra bytes read per decode step relative to the base weights of the decoder layers.</summary>
    private static double BytesRatio(ModelConfig c, int rank, int adapters)
    {
        long h = c.HiddenSize, i = c.IntermediateSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKvHeads * c.HeadDim;
        (long In, long Out)[] projections = [(h, q), (h, kv), (h, kv), (q, h), (h, i), (h, i), (i, h)];
        double baseBytes = projections.Sum(p => (double)p.In * p.Out);
        double loraBytes = projections.Sum(p => (double)rank * (p.In + p.Out)) * adapters;
        return loraBytes / baseBytes;
    }

    /// <summary>Best decode-step time (ms) for B sequences on the base model and on B distinct adapters, interleaved.</summary>
    /// <param name="heads">The head slot of each of the 32 installed adapters.</param>
    private static (double BaseMs, double LoraMs) TimeDecode(CausalLM model, LoraSqueeze.Model.Cache.KvCache cache, int b, int reps, int[] heads)
    {
        using var mode = inference_mode();
        var baseChunks = Enumerable.Range(0, b).Select(i => new SequenceChunk(i, 100, [i + 1], -1)).ToList();
        var loraChunks = Enumerable.Range(0, b).Select(i => new SequenceChunk(i, 100, [i + 1], heads[i % 32])).ToList();
        var baseTimes = new List<double>();
        var loraTimes = new List<double>();
        for (int r = -2; r < reps; r++)    // two warm-up rounds
        {
            double t0 = Time(() => model.Forward(baseChunks, cache));
            double t1 = Time(() => model.Forward(loraChunks, cache));
            if (r >= 0) { baseTimes.Add(t0); loraTimes.Add(t1); }
        }
        return (Best(baseTimes), Best(loraTimes));
    }

    private static (double BaseTps, double LoraTps) TimePrefill(CausalLM model, LoraSqueeze.Model.Cache.KvCache cache, int b, int len, int reps)
    {
        using var mode = inference_mode();
        var tokens = Enumerable.Range(0, len).Select(t => t % 200 + 1).ToArray();
        var baseChunks = Enumerable.Range(0, b).Select(i => new SequenceChunk(i, 0, tokens, -1)).ToList();
        var loraChunks = Enumerable.Range(0, b).Select(i => new SequenceChunk(i, 0, tokens, i)).ToList();
        var baseTimes = new List<double>();
        var loraTimes = new List<double>();
        for (int r = -1; r < reps; r++)
        {
            double t0 = Time(() => model.Forward(baseChunks, cache));
            double t1 = Time(() => model.Forward(loraChunks, cache));
            if (r >= 0) { baseTimes.Add(t0); loraTimes.Add(t1); }
        }
        return (b * len / (Best(baseTimes) / 1000), b * len / (Best(loraTimes) / 1000));
    }

    private static double Time(Func<Tensor> step)
    {
        using var scope = NewDisposeScope();
        var sw = Stopwatch.StartNew();
        var logits = step();
        _ = logits.cpu();            // forces completion on a GPU; a no-op copy on CPU
        return sw.Elapsed.TotalMilliseconds;
    }

    /// <summary>Best of the repetitions: interference from other processes only ever adds time.</summary>
    private static double Best(List<double> xs) => xs.Min();
}
