using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Server.Hosting;
using LoraSqueeze.Server.OpenAi;

namespace LoraSqueeze.Server.Serving;

/// <summary>
/// The names a request's <c>model</c> may take (vLLM's and the Kubernetes gateway's convention): the base model's
/// served name runs the base, any other name is an adapter id, exactly. The base name is
/// <see cref="ServerOptions.ServedModelName"/>, or the model folder's name; it wins over an adapter of the same id.
/// </summary>
public sealed class ServedModels(ServerOptions options)
{
    public string BaseName { get; } = options.ResolvedServedModelName;

    /// <summary>Null for the base model, else the adapter id; a name that cannot be an adapter id is a 404.</summary>
    public string? AdapterFor(string model)
    {
        if (string.Equals(model, BaseName, StringComparison.Ordinal)) return null;
        return AdapterPathResolver.IsValidId(model) ? model : throw new ModelNotFoundException(model);
    }
}
