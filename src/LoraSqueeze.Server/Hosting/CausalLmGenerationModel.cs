using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Generation;
using LoraSqueeze.Server.Engine;
using TorchSharp;

namespace LoraSqueeze.Server.Hosting;

/// <summary>
/// The real model behind the engine: a <see cref="CausalLM"/> with adapter slots in the server's layout (uniform at the
/// target rank, or padded to <see cref="ServerOptions.PaddedMaxRank"/> for comparisons), driven by the model runtime's <see cref="BatchGenerator"/>. Created on the engine thread, which then owns it.
/// </summary>
internal sealed class CausalLmGenerationModel : IGenerationModel
{
    private readonly CausalLM _model;
    private readonly BatchGenerator _batch;

    private CausalLmGenerationModel(CausalLM model, BatchGenerator batch)
    {
        _model = model;
        _batch = batch;
    }

    public static CausalLmGenerationModel Load(ServerOptions options, IReadOnlyList<int>? eosTokenIds)
    {
        TorchRuntime.EnsureInitialized();
        // Here, on the engine thread, and not through EnsureInitialized: that call is a no-op once torch has started
        // (demo generation, an earlier server in the process), and libtorch's intra-op thread count is per thread.
        if (options.TorchThreads > 0) torch.set_num_threads(options.TorchThreads);
        var device = TorchRuntime.ResolveDevice(options.Device);
        var model = CausalLM.Load(options.ModelPath, device, new ModelLoadOptions
        {
            AdapterRank = options.TargetRank,
            AdapterSlots = options.Slots,
            LoraLayout = options.LoraLayout,
            PaddedMaxRank = options.PaddedMaxRank,
            LoraKernel = options.LoraKernel,
            SlotDType = options.SlotScalarType,
        });
        try
        {
            var batch = new BatchGenerator(model, new BatchGeneratorOptions
            {
                MaxBatch = options.MaxBatch,
                MaxTokensPerStep = options.MaxTokensPerStep,
                MaxSequenceLength = Math.Min(options.MaxPromptTokens + options.MaxTokens, model.Config.MaxPositionEmbeddings),
                EosTokenIds = eosTokenIds is { Count: > 0 } ? eosTokenIds : null,
            });
            return new CausalLmGenerationModel(model, batch);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public int SlotCount => _model.Adapters.Count;

    public long SlotBytes => _model.Adapters.BytesPerSlot;

    public int ActiveCount => _batch.ActiveCount;

    public bool TryAdmit(EngineSequence sequence)
    {
        var s = sequence.Sampling;
        var sampling = new SamplingParams(
            Temperature: s.Temperature,
            TopP: s.TopP,
            TopK: s.TopK,
            RepetitionPenalty: s.RepetitionPenalty,
            Seed: s.Seed is { } seed ? unchecked((long)seed) : null,
            MaxTokens: s.MaxTokens,
            Logprobs: s.Logprobs);
        return _batch.TryAdmit(new GenerationRequest(sequence.RequestId, sequence.PromptTokens, sequence.Slot, sampling));
    }

    public void Cancel(long requestId) => _batch.Cancel(requestId);

    public IReadOnlyList<GeneratedToken> Step()
    {
        var events = _batch.Step();
        var tokens = new GeneratedToken[events.Count];
        for (int i = 0; i < events.Count; i++)
        {
            var e = events[i];
            tokens[i] = new GeneratedToken(e.RequestId, e.TokenId, e.Logprob, e.Finish switch
            {
                FinishReason.Length => GenerationFinish.Length,
                FinishReason.Eos => GenerationFinish.Eos,
                FinishReason.Stop => GenerationFinish.Stop,
                FinishReason.Cancelled => GenerationFinish.Cancelled,
                _ => GenerationFinish.None,
            });
        }
        return tokens;
    }

    public void InstallAdapter(int slot, LoraWeights weights) => _model.Adapters.Install(slot, weights);

    public void ClearAdapter(int slot) => _model.Adapters.Clear(slot);

    public void Dispose()
    {
        _batch.Dispose();
        _model.Dispose();
    }
}
