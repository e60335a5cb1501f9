using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Lora;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Squeeze;

/// <summary>What a squeeze to one rank costs in outputs, against the adapter applied exactly.</summary>
public sealed record FidelityRow(int Rank, double MeanKl, double Perplexity, double Top1Agreement, double MeanRetainedEnergy, double MinRetainedEnergy);

/// <summary>An adapter's fidelity at several ranks on held-out text, with the base model and the exact adapter as references.</summary>
public sealed record FidelityResult(string Adapter, AdapterKind Kind, int Windows, int Positions, double BasePerplexity, double ExactPerplexity,
    double BaseKl, IReadOnlyList<FidelityRow> Rows);

/// <summary>
/// Measures squeezing in outputs (issue 15): on token windows of held-out text, the next-token distributions of the
/// adapter applied exactly (every module's ΔW through <see cref="IModuleDelta.Apply"/>, whatever its kind: LoRA, DoRA,
/// VeRA, LoHa, LoKr, AdaLoRA) against the same adapter squeezed to each rank (B·A from <see cref="AdapterSqueezer"/>):
/// mean KL(exact ‖ squeezed) per position, perplexity of both on the text's next tokens, and how often their arg-max
/// agrees; the base model's KL and perplexity are the floor ("what the adapter changes at all"). Both sides run the
/// same float32 training forward (<see cref="CausalLM.ForwardSequence"/>) with a projection hook, so the only
/// difference between them is the adapter's update.
/// </summary>
public static class SqueezeFidelity
{
    public static FidelityResult Measure(CausalLM model, LoadedAdapter adapter, IReadOnlyList<int[]> windows, IReadOnlyList<int> ranks,
        SqueezeOptions options, Action<int, int>? progress = null)
    {
        if (windows.Count == 0) throw new ArgumentException("no evaluation windows: the text is shorter than one window");
        var deltas = adapter.Modules.ToDictionary(m => m.ModulePath, StringComparer.Ordinal);
        var squeezed = new List<(int Rank, LoraWeights Weights, SqueezeReport Report)>();
        try
        {
            foreach (int r in ranks)
            {
                var (w, report) = AdapterSqueezer.Squeeze(adapter, r, options);
                squeezed.Add((r, w, report));
            }
            using var mode = inference_mode();
            double baseNll = 0, exactNll = 0, baseKl = 0;
            var nll = new double[squeezed.Count];
            var kl = new double[squeezed.Count];
            var agree = new long[squeezed.Count];
            long positions = 0;
            for (int wi = 0; wi < windows.Count; wi++)
            {
                using var scope = NewDisposeScope();
                var ids = windows[wi];
                int len = ids.Length - 1;
                var input = tensor(ids.AsSpan(0, len).ToArray().Select(i => (long)i).ToArray(), device: model.Device).view(1, len);  // [1, L]
                var target = tensor(ids.AsSpan(1).ToArray().Select(i => (long)i).ToArray(), device: model.Device);                 // [L]
                var exact = LogProbs(model, input, (p, x, y) => deltas.TryGetValue(p.Path, out var d) ? y + Exact(d, x, y) : y);  // [L, V]
                var basis = LogProbs(model, input, null);
                exactNll += -exact.gather(1, target.view(-1, 1)).sum().item<float>();
                baseNll += -basis.gather(1, target.view(-1, 1)).sum().item<float>();
                baseKl += Kl(exact, basis);
                var exactTop = exact.argmax(1);
                for (int k = 0; k < squeezed.Count; k++)
                {
                    var weights = squeezed[k].Weights;
                    var lp = LogProbs(model, input, (p, x, y) => weights.Find(p.Path) is { } m ? y + Factored(m, x, y) : y);
                    nll[k] += -lp.gather(1, target.view(-1, 1)).sum().item<float>();
                    kl[k] += Kl(exact, lp);
                    agree[k] += lp.argmax(1).eq(exactTop).sum().item<long>();
                }
                positions += len;
                progress?.Invoke(wi + 1, windows.Count);
            }
            // KL ≥ 0; an exact squeeze sums float rounding to about −1e-9, which is reported as the 0 it is.
            var rows = squeezed.Select((s, k) => new FidelityRow(s.Rank, Math.Max(0, kl[k] / positions), Math.Exp(nll[k] / positions),
                (double)agree[k] / positions, s.Report.MeanRetainedEnergy, s.Report.MinRetainedEnergy)).ToList();
            return new FidelityResult(adapter.Name, adapter.Kind, windows.Count, (int)positions, Math.Exp(baseNll / positions),
                Math.Exp(exactNll / positions), baseKl / positions, rows);
        }
        finally
        {
            foreach (var s in squeezed) s.Weights.Dispose();
        }
    }

    /// <summary>Token windows of <paramref name="length"/> + 1 ids (inputs and their next tokens), without overlap, at most <paramref name="max"/>.</summary>
    public static List<int[]> Windows(IReadOnlyList<int> tokens, int length, int max)
    {
        var result = new List<int[]>();
        for (int start = 0; start + length + 1 <= tokens.Count && result.Count < max; start += length)
            result.Add(tokens.Skip(start).Take(length + 1).ToArray());
        return result;
    }

    private static Tensor LogProbs(CausalLM model, Tensor input, ProjectionHook? hook) =>
        nn.functional.log_softmax(model.ForwardSequence(input, hook).squeeze(0), 1);                 // [1, L, V] → [L, V]

    /// <summary>ΔW·x for y's rows: x [B, T, in] → [B·T, in]ᵀ through the exact delta → [out, B·T]ᵀ → y's shape.</summary>
    private static Tensor Exact(IModuleDelta d, Tensor x, Tensor y) =>
        d.Apply(x.reshape(-1, x.shape[^1]).t().to_type(ScalarType.Float32)).t().reshape(y.shape).to_type(y.dtype);

    /// <summary>B·A·x for y's rows: x [B, T, in] → [B·T, in] · Aᵀ [in, r] · Bᵀ [r, out] → y's shape.</summary>
    private static Tensor Factored(LoraModule m, Tensor x, Tensor y) =>
        x.reshape(-1, x.shape[^1]).to_type(ScalarType.Float32).matmul(m.A.t()).matmul(m.B.t()).reshape(y.shape).to_type(y.dtype);

    /// <summary>Σ over positions of KL(p ‖ q) = Σ_v p (log p − log q), from log-probabilities [L, V].</summary>
    private static double Kl(Tensor logP, Tensor logQ) => logP.exp().mul(logP - logQ).sum().item<float>();
}
