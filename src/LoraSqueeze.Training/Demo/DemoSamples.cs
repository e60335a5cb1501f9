using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Engine.Execution;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Sampling;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Training.Demo;

/// <summary>A prompt's continuation by the base model and by one adapter.</summary>
public sealed record DemoSample(string Adapter, string Prompt, string BaseText, string AdapterText);

/// <summary>
/// Generates side-by-side samples through the serving path: every adapter is squeezed on load to the uniform slot rank
/// (the squeeze engine), installed in a slot, and all requests run in one continuous batch (the model runtime), so
/// the samples also show that the demo assets load the way <c>serve</c> loads them.
/// </summary>
public static class DemoSamples
{
    public static List<DemoSample> Generate(string baseDir, IReadOnlyList<(string Name, string Dir, string Prompt)> adapters, int slotRank = 16, int maxTokens = 40, long seed = 7)
    {
        var tokenizer = TokenizerLoader.FromDirectory(baseDir);
        using var model = CausalLM.Load(baseDir, TorchSharp.torch.CPU, new ModelLoadOptions { AdapterRank = slotRank, AdapterSlots = adapters.Count });
        for (int i = 0; i < adapters.Count; i++)
        {
            var (weights, _) = AdapterSqueezer.LoadAndSqueeze(adapters[i].Dir, slotRank, baseModelDir: baseDir);
            using (weights) model.Adapters.Install(i, weights);
        }
        using var gen = EngineCore.ForModel(model, new SchedulerOptions { MaxBatch = 2 * adapters.Count, MaxSequenceLength = 256, EosTokenIds = tokenizer.EosTokenIds });
        var sampling = new SamplingParams(Temperature: 0.8f, TopP: 0.95f, RepetitionPenalty: 1.1f, Seed: seed, MaxTokens: maxTokens);
        var outputs = new Dictionary<long, List<int>>();
        for (int i = 0; i < adapters.Count; i++)
        {
            var prompt = tokenizer.Encode(adapters[i].Prompt);
            foreach (var (id, slot) in new[] { (2L * i, -1), (2L * i + 1, i) })
            {
                gen.Add(new GenerationRequest(id, prompt, slot < 0 ? null : InstalledAdapters.SlotId(slot), sampling));
                outputs[id] = [];
            }
        }
        while (gen.ActiveCount > 0 || gen.WaitingCount > 0)
        {
            foreach (var e in gen.Step().Events)
                if (e.TokenId >= 0) outputs[e.RequestId].Add(e.TokenId);
        }
        string Text(long id) => tokenizer.Decode(outputs[id].Where(t => !tokenizer.EosTokenIds.Contains(t)).ToArray());
        return adapters.Select((a, i) => new DemoSample(a.Name, a.Prompt, Text(2L * i), Text(2L * i + 1))).ToList();
    }
}
