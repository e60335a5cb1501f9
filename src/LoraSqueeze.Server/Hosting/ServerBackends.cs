using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Engine.Execution;
using LoraSqueeze.Engine.Scheduling;
using LoraSqueeze.Engine.Text;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Server.Hosting;

/// <summary>
/// The model runtime pieces the server runs on: the model runner (created on the engine thread, which then owns it),
/// the tokenizer as codec, the adapter loader that reads and squeezes adapters, and the batching limits.
/// </summary>
public sealed record ServerBackends(Func<IModelRunner> CreateRunner, ITextCodec Codec, IAdapterLoader Loader, SchedulerOptions Scheduler)
{
    /// <summary>
    /// Host bytes of the smallest adapter this model can have at the target rank: one module on its smallest
    /// projection (k/v), float32 factors. A host budget below it can cache nothing, so every request would re-read and
    /// re-squeeze its adapter; the server refuses such a budget at start-up. 0 when unknown.
    /// </summary>
    public long MinAdapterBytes { get; init; }

    /// <summary>The base model's chat template (null when it has none: chat completions are then refused with 400).</summary>
    public ChatTemplate? ChatTemplate { get; init; }

    /// <summary>
    /// The real runtime for <see cref="ServerOptions.ModelPath"/>: its Hugging Face tokenizer, the squeeze engine as
    /// loader, and a <see cref="ModelRunner"/> with slots in the configured layout, loaded on the engine thread.
    /// </summary>
    public static ServerBackends ForModel(ServerOptions options)
    {
        var config = ModelConfig.Load(options.ModelPath);
        var tokenizer = TokenizerLoader.FromDirectory(options.ModelPath);
        var eos = tokenizer.EosTokenIds.Count > 0 ? tokenizer.EosTokenIds : config.EosTokenIds;
        var scheduler = new SchedulerOptions
        {
            MaxBatch = options.MaxBatch,
            MaxTokensPerStep = options.MaxTokensPerStep,
            MaxSequenceLength = Math.Min(options.MaxPromptTokens + options.MaxTokens, config.MaxPositionEmbeddings),
            EosTokenIds = eos,
        };
        var load = new ModelLoadOptions
        {
            AdapterRank = options.TargetRank,
            AdapterSlots = options.Slots,
            LoraLayout = options.LoraLayout,
            PaddedMaxRank = options.PaddedMaxRank,
            LoraKernel = options.LoraKernel,
            SlotDType = options.SlotScalarType,
            WeightDType = options.WeightScalarType,
            Int8Activations = options.Int8Activations,
        };
        long smallestOut = Math.Min((long)config.NumKvHeads * config.HeadDim, config.HiddenSize);
        return new ServerBackends(
            () => ModelRunner.Load(options.ModelPath, options.Device, options.TorchThreads, load, scheduler),
            new TokenizerTextCodec(tokenizer, config.VocabSize),
            new SqueezingAdapterLoader(options.ModelPath, options.SlotRank, options.LoraLayout, options.EnergyFloor, options.ServeBelowEnergyFloor),
            scheduler)
        {
            MinAdapterBytes = (long)options.TargetRank * (config.HiddenSize + smallestOut) * sizeof(float),
            // A template that does not parse stops the server at start-up, naming the file and line.
            ChatTemplate = ChatTemplate.FromDirectory(options.ModelPath),
        };
    }
}
