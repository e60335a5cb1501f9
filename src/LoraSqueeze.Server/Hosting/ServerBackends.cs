using LoraSqueeze.Server.Adapters;
using LoraSqueeze.Server.Engine;

namespace LoraSqueeze.Server.Hosting;

/// <summary>
/// The model runtime pieces the server runs on: the model (created on the engine thread, which then owns it), its
/// tokenizer, and the adapter loader that reads and squeezes adapters.
/// </summary>
public sealed record ServerBackends(Func<IGenerationModel> CreateModel, ITextCodec Codec, IAdapterLoader Loader);
