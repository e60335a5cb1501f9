using System.Globalization;
using System.Text;
using LoraSqueeze.Model.Config;

namespace LoraSqueeze.PeerBench;

/// <summary>
/// The markdown of one comparison run (a section of docs/performance.md per model shape, replaced in place by the next
/// run of that shape): tokens per second per runtime and weight type (median over rounds and repetitions), the ratios
/// against llama.cpp at the same weight type (median of the per-round ratios, with their range), the bytes bound and
/// whether both runtimes produced the same greedy tokens.
/// </summary>
public static class PerformanceReport
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public static string Markdown(ComparisonOptions o, ModelConfig c, IReadOnlyList<Measurement> results, double bandwidthGBps, double weightBytes, string loadAfter)
    {
        var sb = new StringBuilder();
        sb.AppendLine(Inv, $"### {o.Shape}: hidden {c.HiddenSize}, {c.NumHiddenLayers} layers, vocab {c.VocabSize}, {weightBytes / 1e6:F0} MB of float32 weights per step");
        sb.AppendLine();
        sb.AppendLine(Inv, $"Run on {DateTime.UtcNow:yyyy-MM-dd} with `lorasqueeze-peerbench compare --shape {o.Shape} --rounds {o.Rounds} --threads {o.Threads} --prompt {o.Prompt} --gen {o.Generate} --reps {o.Reps} --warmup-seconds {o.WarmupSeconds} --weights {string.Join(',', o.OurWeights)}`;");
        sb.AppendLine(Inv, $"{Environment.ProcessorCount} cores, {o.Threads} threads per runtime, read bandwidth {bandwidthGBps:F1} GB/s ({o.Threads} threads, measured in the run), load average after the run {loadAfter}.");
        sb.AppendLine(Inv, $"Adapters: 8 PEFT LoRA of rank {o.AdapterRank}, squeezed to rank {o.AdapterRank} for LoraSqueeze, exported with `lorasqueeze export gguf` for llama.cpp. Tokens per second, median over {o.Rounds} rounds × {o.Reps} repetitions.");
        sb.AppendLine();
        var ourWeights = o.OurWeights;
        var head = new List<string> { "test" };
        head.AddRange(ourWeights.Select(w => $"LoraSqueeze {w}"));
        head.AddRange(["llama.cpp f32", "llama.cpp q8_0"]);
        head.AddRange(ourWeights.Select(w => $"{w} vs llama.cpp {(w == "f32" ? "f32" : "q8_0")} (range over rounds)"));
        head.AddRange(["f32 bytes bound", "LoraSqueeze f32 / bound", "greedy tokens f32 = llama.cpp f32"]);
        sb.AppendLine("| " + string.Join(" | ", head) + " |");
        sb.AppendLine("|" + string.Concat(Enumerable.Repeat("---|", head.Count)));
        foreach (var test in new[] { "prefill", "b1", "b8", "b8-mixed" })
        {
            var row = new List<string> { Label(test) };
            foreach (var w in ourWeights) row.Add(Fmt(Tps(results, "lorasqueeze", w, test)));
            row.Add(LlamaCell(results, "f32", test));
            row.Add(LlamaCell(results, "q8_0", test));
            foreach (var w in ourWeights)
            {
                string peer = w == "f32" ? "f32" : "q8_0";
                var perRound = results.Select(m => m.Round).Distinct().Order()
                    .Select(r => Tps(results, "lorasqueeze", w, test, r) / LlamaBest(results, peer, test, r)).Where(double.IsFinite).ToList();
                row.Add(perRound.Count == 0 ? "–" : $"**{Workload.Median(perRound):F2}** ({perRound.Min():F2}–{perRound.Max():F2})");
            }
            double bound = test == "prefill" ? double.NaN : Workload.Rows(test) / (weightBytes / (bandwidthGBps * 1e9));
            row.Add(double.IsNaN(bound) ? "–" : Fmt(bound));
            row.Add(double.IsNaN(bound) ? "–" : $"{Tps(results, "lorasqueeze", "f32", test) / bound:F2}");
            row.Add(SameTokens(results, test));
            sb.AppendLine("| " + string.Join(" | ", row) + " |");
        }
        sb.AppendLine();
        sb.AppendLine("llama.cpp's 8-adapter cell is the better of its two ways: one context per adapter, or one context that switches adapters per sequence (both shown).");
        var perStep = new List<string>();
        foreach (var w in ourWeights)
            foreach (var test in new[] { "b1", "b8", "b8-mixed" })
            {
                var ms = results.Where(m => m.Impl == "lorasqueeze" && m.Weights == w && m.Test == test && m.TensorsPerStep > 0).ToList();
                if (ms.Count > 0) perStep.Add(string.Create(Inv, $"{w} {test}: {ms.Max(m => m.TensorsPerStep):F0} tensors, {ms.Max(m => m.RegionsPerStep):F0} parallel regions"));
            }
        if (perStep.Count > 0)
            sb.AppendLine().AppendLine("LoraSqueeze per decode step (libtorch tensors created = libtorch calls that return a tensor, views included, in-place calls not counted; " +
                "parallel regions = the kernel pool's fork/joins): " + string.Join("; ", perStep) + ".");
        return sb.ToString();
    }

    /// <summary>Replaces the marked section for <paramref name="shape"/> in <paramref name="document"/> (or appends it).</summary>
    public static string ReplaceSection(string document, string shape, string section)
    {
        string begin = $"<!-- peerbench:{shape} -->", end = $"<!-- /peerbench:{shape} -->";
        var block = $"{begin}\n{section}{end}";
        int a = document.IndexOf(begin, StringComparison.Ordinal), b = document.IndexOf(end, StringComparison.Ordinal);
        if (a >= 0 && b > a) return document[..a] + block + document[(b + end.Length)..];
        if (document.Length == 0) document = "# Performance against llama.cpp\n\n";
        return document.TrimEnd() + "\n\n" + block + "\n";
    }

    private static string Label(string test) => test switch
    {
        "prefill" => "prefill, one prompt",
        "b1" => "base decode, batch 1",
        "b8" => "base decode, batch 8",
        _ => "8 requests on 8 adapters",
    };

    private static double Tps(IReadOnlyList<Measurement> rs, string impl, string weights, string test, int? round = null)
    {
        var xs = rs.Where(m => m.Impl == impl && m.Weights == weights && m.Test == test && (round is null || m.Round == round)).Select(m => m.TokensPerSecond).ToList();
        return xs.Count == 0 ? double.NaN : Workload.Median(xs);
    }

    private static double LlamaBest(IReadOnlyList<Measurement> rs, string weights, string test, int? round = null) =>
        test == "b8-mixed"
            ? new[] { Tps(rs, "llama.cpp", weights, "b8-mixed-ctx", round), Tps(rs, "llama.cpp", weights, "b8-mixed-switch", round) }.Where(double.IsFinite).DefaultIfEmpty(double.NaN).Max()
            : Tps(rs, "llama.cpp", weights, test, round);

    private static string LlamaCell(IReadOnlyList<Measurement> rs, string weights, string test)
    {
        if (test != "b8-mixed") return Fmt(Tps(rs, "llama.cpp", weights, test));
        double ctx = Tps(rs, "llama.cpp", weights, "b8-mixed-ctx"), sw = Tps(rs, "llama.cpp", weights, "b8-mixed-switch");
        return double.IsNaN(sw) ? $"{Fmt(ctx)} (contexts)" : $"{Fmt(ctx)} (contexts) / {Fmt(sw)} (switching)";
    }

    private static string SameTokens(IReadOnlyList<Measurement> rs, string test)
    {
        var ours = rs.Where(m => m.Impl == "lorasqueeze" && m.Weights == "f32" && m.Test == test).Select(m => m.Row0).FirstOrDefault();
        var peerTest = test == "b8-mixed" ? "b8-mixed-ctx" : test;
        var theirs = rs.Where(m => m.Impl == "llama.cpp" && m.Weights == "f32" && m.Test == peerTest).Select(m => m.Row0).FirstOrDefault();
        if (ours is null || theirs is null) return "–";
        int n = Math.Min(ours.Count, theirs.Count);
        int agree = 0;
        while (agree < n && ours[agree] == theirs[agree]) agree++;
        return agree == n ? $"yes ({n}/{n})" : $"no ({agree}/{n} agree)";
    }

    private static string Fmt(double v) => double.IsFinite(v) ? v.ToString(v >= 100 ? "F0" : "F1", Inv) : "–";
}
