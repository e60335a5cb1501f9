using LoraSqueeze.Model;
using LoraSqueeze.Training.Data;
using LoraSqueeze.Training.Loop;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Pretraining;

/// <summary>
/// Pre-training: every weight of the model is a parameter. Norm weights and the embedding get no weight decay
/// (nanoGPT's rule: decay only tensors of two dimensions that multiply activations, i.e. the projections).
/// </summary>
public sealed class FullModelTarget : ITrainingTarget
{
    private readonly CausalLM _model;
    private readonly List<TrainableParameter> _parameters;

    public FullModelTarget(CausalLM model)
    {
        _model = model;
        _parameters = model.NamedParameters()
            .Select(p => new TrainableParameter(p.Name, p.Tensor.requires_grad_(true), Decay: p.Tensor.dim() == 2 && !p.Name.Contains("embed_tokens", StringComparison.Ordinal)))
            .ToList();
    }

    public IReadOnlyList<TrainableParameter> Parameters => _parameters;

    public Tensor Loss(Batch batch) => TokenLoss.Mean(_model.ForwardSequence(batch.Inputs, null), batch);

    public IEnumerable<(string Name, Tensor Tensor)> StateTensors() => _parameters.Select(p => (p.Name, p.Tensor));

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        using var _ = no_grad();
        foreach (var p in _parameters)
            p.Tensor.copy_(state.TryGetValue(p.Name, out var t) ? t : throw new InvalidDataException($"checkpoint lacks '{p.Name}'"));
    }

    /// <summary>
    /// GPT-2/nanoGPT initialisation, which HF's LlamaPreTrainedModel shares for the base case: N(0, 0.02) for
    /// embeddings and projections, ones for RMSNorm weights, and the residual output projections (o_proj, down_proj)
    /// scaled down to N(0, 0.02/√(2·layers)) so the residual stream's variance does not grow with depth
    /// (Radford et al. 2019 §2.3; nanoGPT model.py <c>c_proj.weight</c>).
    /// </summary>
    public static void Initialize(CausalLM model, int seed)
    {
        using var gen = new Generator((ulong)seed);
        using var _ = no_grad();
        double residualStd = 0.02 / Math.Sqrt(2.0 * model.Config.NumHiddenLayers);
        foreach (var (name, t) in model.NamedParameters())
        {
            if (name.EndsWith(".bias", StringComparison.Ordinal)) t.zero_();
            else if (t.dim() == 1) t.fill_(1.0);
            else if (name.EndsWith("o_proj.weight", StringComparison.Ordinal) || name.EndsWith("down_proj.weight", StringComparison.Ordinal))
                t.normal_(0, residualStd, gen);
            else t.normal_(0, 0.02, gen);
        }
    }
}
