using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Server.Adapters;
using LoraSqueeze.Server.Engine;

namespace LoraSqueeze.Server.Hosting;

/// <summary>
/// The model runtime pieces the server runs on: the model (created on the engine thread, which then owns it), its
/// tokenizer, and the adapter loader that reads and squeezes adapters.
/// </summary>
public sealed record ServerBackends(Func<IGenerationModel> CreateModel, ITextCodec Codec, IAdapterLoader Loader)
{
    /// <summary>
    /// The real runtime for <see cref="ServerOptions.ModelPath"/>: its Hugging Face tokenizer, the squeeze engine as
    /// loader, and a <c>CausalLM</c> with slots at the target rank, loaded on the engine thread when it starts.
    /// </summary>
    public static ServerBackends ForModel(ServerOptions options)
    {
        var config = ModelConfig.Load(options.ModelPath);
        var tokenizer = TokenizerLoader.FromDirectory(options.ModelPath);
        var eos = tokenizer.EosTokenIds.Count > 0 ? tokenizer.EosTokenIds : config.EosTokenIds;
        return new ServerBackends(
            () => CausalLmGenerationModel.Load(options, eos),
            new TokenizerTextCodec(tokenizer, config.VocabSize),
            new SqueezingAdapterLoader(options.ModelPath, options.TargetRank));
    }
}
