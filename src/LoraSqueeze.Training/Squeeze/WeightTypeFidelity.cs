using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Modules;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Squeeze;

/// <summary>
/// A way of storing and multiplying the base weights: <see cref="ModelLoadOptions.WeightDType"/>, and with int8 storage
/// optionally int8 activations on decode steps (<see cref="ModelLoadOptions.Int8Activations"/>, llama.cpp Q8_0 × Q8_0).
/// </summary>
public sealed record BaseWeightType(ScalarType Storage, bool Int8Activations = false)
{
    public string Name => (Storage, Int8Activations) switch
    {
        (ScalarType.Int8, true) => "w8a8",
        (ScalarType.Float32, _) => "f32",
        (ScalarType.BFloat16, _) => "bf16",
        (ScalarType.Int8, _) => "int8",
        _ => Storage.ToString(),
    };
}

/// <summary>One model variant (base or an adapter) at one base weight type, against the float32 weights.</summary>
public sealed record WeightTypeRow(string Case, string WeightType, int Positions, double MeanKl, double Top1Agreement,
    double Perplexity, double Float32Perplexity, double GreedyAgreement);

/// <summary>
/// What storing the base weights as bfloat16 or int8 (<see cref="ModelLoadOptions.WeightDType"/>) costs in outputs:
/// on held-out windows, run through the serving forward (<see cref="CausalLM.Forward"/>, the kernels the server uses),
/// the mean KL(float32 ‖ packed) per token, top-1 agreement of the next-token arg-max, both perplexities, and the greedy
/// agreement: from each window's first half as the prompt, the share of greedily generated tokens that are identical
/// to float32's before the first difference (what a user of greedy decoding sees change). Int8 activations apply only
/// to decode steps (a prefill multiplies float32 rows), so for w8a8 the log-probabilities come from teacher-forced
/// decode steps, one token at a time, the path every generated token takes.
/// </summary>
public static class WeightTypeFidelity
{
    public static List<WeightTypeRow> Measure(string modelDir, IReadOnlyList<(string Name, LoraWeights? Adapter)> cases, IReadOnlyList<BaseWeightType> types,
        IReadOnlyList<int[]> windows, int rank, int greedyTokens, Action<string>? progress = null)
    {
        if (windows.Count == 0) throw new ArgumentException("no evaluation windows: the text is shorter than one window");
        var options = new ModelLoadOptions { AdapterRank = rank, AdapterSlots = Math.Max(1, cases.Count) };
        using var reference = Load(modelDir, options, cases);
        var rows = new List<WeightTypeRow>();
        foreach (var type in types)
        {
            using var packed = Load(modelDir, options with { WeightDType = type.Storage, Int8Activations = type.Int8Activations }, cases);
            for (int c = 0; c < cases.Count; c++)
            {
                progress?.Invoke($"{cases[c].Name} at {type.Name}");
                int slot = cases[c].Adapter is null ? -1 : c;
                rows.Add(Compare(reference, packed, slot, cases[c].Name, type.Name, windows, greedyTokens, stepwise: type.Int8Activations));
            }
        }
        return rows;
    }

    private static CausalLM Load(string modelDir, ModelLoadOptions options, IReadOnlyList<(string Name, LoraWeights? Adapter)> cases)
    {
        var model = CausalLM.Load(modelDir, CPU, options);
        for (int c = 0; c < cases.Count; c++)
            if (cases[c].Adapter is { } a) model.Adapters.Install(c, a);
        return model;
    }

    private static WeightTypeRow Compare(CausalLM reference, CausalLM packed, int slot, string name, string type, IReadOnlyList<int[]> windows, int greedyTokens, bool stepwise)
    {
        using var mode = inference_mode();
        double kl = 0, nllRef = 0, nllPacked = 0;
        long agree = 0, positions = 0, greedySame = 0, greedyTotal = 0;
        foreach (var ids in windows)
        {
            using var scope = NewDisposeScope();
            int len = ids.Length - 1;
            var input = ids.AsSpan(0, len).ToArray();
            var target = tensor(ids.AsSpan(1).ToArray().Select(i => (long)i).ToArray()).view(-1, 1);   // [L, 1]
            var p = AllLogProbs(reference, input, slot);                                                // [L, V]
            var q = stepwise ? StepLogProbs(packed, input, slot) : AllLogProbs(packed, input, slot);    // [L, V]
            kl += p.exp().mul(p - q).sum().item<double>();
            nllRef += -p.gather(1, target).sum().item<double>();
            nllPacked += -q.gather(1, target).sum().item<double>();
            agree += p.argmax(1).eq(q.argmax(1)).sum().item<long>();
            positions += len;
            var prompt = ids.AsSpan(0, Math.Max(1, ids.Length / 2)).ToArray();
            var a = Greedy(reference, prompt, slot, greedyTokens);
            var b = Greedy(packed, prompt, slot, greedyTokens);
            int same = 0;
            while (same < a.Length && a[same] == b[same]) same++;
            greedySame += same;
            greedyTotal += a.Length;
        }
        return new WeightTypeRow(name, type, (int)positions, Math.Max(0, kl / positions), (double)agree / positions,
            Math.Exp(nllPacked / positions), Math.Exp(nllRef / positions), (double)greedySame / greedyTotal);
    }

    private static Tensor AllLogProbs(CausalLM model, int[] input, int slot)
    {
        using var cache = model.CreateCache(1, input.Length + 1);
        var logits = model.Forward([new SequenceChunk(0, 0, input, slot, AllLogits: true)], cache);   // [L, V]
        return nn.functional.log_softmax(logits.to_type(ScalarType.Float64), 1);
    }

    /// <summary>The same log-probabilities as <see cref="AllLogProbs"/> from one decode step per input token.</summary>
    private static Tensor StepLogProbs(CausalLM model, int[] input, int slot)
    {
        using var cache = model.CreateCache(1, input.Length + 1);
        var rows = new Tensor[input.Length];
        for (int pos = 0; pos < input.Length; pos++)
            rows[pos] = model.Forward([new SequenceChunk(0, pos, [input[pos]], slot)], cache);   // [1, V]
        return nn.functional.log_softmax(cat(rows, 0).to_type(ScalarType.Float64), 1);          // [L, V]
    }

    private static int[] Greedy(CausalLM model, int[] prompt, int slot, int count)
    {
        using var cache = model.CreateCache(1, prompt.Length + count + 1);
        var result = new int[count];
        int[] input = prompt;
        int pos = 0;
        for (int g = 0; g < count; g++)
        {
            using var scope = NewDisposeScope();
            int t = (int)model.Forward([new SequenceChunk(0, pos, input, slot)], cache).argmax(1).item<long>();   // [1, V] → arg-max
            result[g] = t;
            pos += input.Length;
            input = [t];
        }
        return result;
    }
}
