namespace LoraSqueeze.Server.OpenAi;

/// <summary>A <c>model</c> that is neither the served base model nor a valid adapter id: 404, as vLLM answers.</summary>
public sealed class ModelNotFoundException(string model)
    : Exception($"the model '{(model.Length > 128 ? model[..128] + "…" : model)}' does not exist; GET /v1/models lists the base model and the adapters");
