using LoraSqueeze.Model;
using LoraSqueeze.Model.Lora;
using LoraSqueeze.Training.Data;
using LoraSqueeze.Training.Loop;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Adapters;

/// <summary>
/// Adapter training over a frozen base: the model's training forward with each targeted projection routed through
/// its <see cref="TrainableModule"/>. Only the adapter's tensors are parameters; LoRA+ gives B and vectors lr·ratio.
/// </summary>
public sealed class AdapterTarget : ITrainingTarget
{
    private readonly CausalLM _model;

    public AdapterTarget(CausalLM model, TrainableAdapter adapter)
    {
        _model = model;
        Adapter = adapter;
    }

    public TrainableAdapter Adapter { get; }

    public IReadOnlyList<TrainableParameter> Parameters =>
        Adapter.NamedParameters().Select(p => new TrainableParameter(p.Name, p.Tensor,
            p.Role == ParameterRole.DownProjection ? 1.0 : Adapter.Spec.LoraPlusRatio, Decay: p.Role != ParameterRole.Vector)).ToList();

    public Tensor Logits(Tensor inputIds) => _model.ForwardSequence(inputIds, Hook);

    public Tensor Loss(Batch batch) => TokenLoss.Mean(Logits(batch.Inputs), batch);

    private Tensor Hook(LoraLinear projection, Tensor x, Tensor y) =>
        Adapter.Find(projection.Path) is { } m ? m.Forward(x, projection.Weight, y) : y;

    public IEnumerable<(string Name, Tensor Tensor)> StateTensors()
    {
        foreach (var m in Adapter.Modules)
        {
            switch (m)
            {
                case LoraModuleTrainer l:
                    yield return (m.ModulePath + ".lora_A", l.A);
                    yield return (m.ModulePath + ".lora_B", l.B);
                    yield return (m.ModulePath + ".scale", tensor(new[] { l.Scale }));
                    if (l.Magnitude is not null) yield return (m.ModulePath + ".magnitude", l.Magnitude);
                    if (l.MergedP is not null)
                    {
                        yield return (m.ModulePath + ".merged_p", l.MergedP);
                        yield return (m.ModulePath + ".merged_q", l.MergedQ!);
                    }
                    break;
                case VeraModuleTrainer v:
                    yield return (m.ModulePath + ".lambda_b", v.LambdaB);
                    yield return (m.ModulePath + ".lambda_d", v.LambdaD);
                    break;
            }
        }
    }

    public void LoadState(IReadOnlyDictionary<string, Tensor> state)
    {
        Tensor Get(string name) => state.TryGetValue(name, out var t) ? t : throw new InvalidDataException($"checkpoint lacks '{name}'");
        foreach (var m in Adapter.Modules)
        {
            switch (m)
            {
                case LoraModuleTrainer l:
                    l.Restore(Get(m.ModulePath + ".lora_A"), Get(m.ModulePath + ".lora_B"), Get(m.ModulePath + ".scale").item<double>(),
                        state.GetValueOrDefault(m.ModulePath + ".magnitude"),
                        state.GetValueOrDefault(m.ModulePath + ".merged_p"), state.GetValueOrDefault(m.ModulePath + ".merged_q"));
                    break;
                case VeraModuleTrainer v:
                    using (no_grad())
                    {
                        v.LambdaB.copy_(Get(m.ModulePath + ".lambda_b"));
                        v.LambdaD.copy_(Get(m.ModulePath + ".lambda_d"));
                    }
                    break;
            }
        }
        Adapter.SyncRankFromModules();
    }
}
