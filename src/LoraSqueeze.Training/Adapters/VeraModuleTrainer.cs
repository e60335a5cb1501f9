using static TorchSharp.torch;

namespace LoraSqueeze.Training.Adapters;

/// <summary>
/// VeRA on one projection (Kopiczko et al. 2024; PEFT <c>tuners/vera/layer.py</c>): ΔW = diag(λ_b)·B_l·diag(λ_d)·A_l
/// with A_l = vera_A[:, :in], B_l = vera_B[:out, :] sliced from projections shared by every layer and frozen.
/// Only λ_b [out] (init 0) and λ_d [r] (init d_initial = 0.1) train. No scaling factor exists in VeRA.
/// </summary>
public sealed class VeraModuleTrainer : TrainableModule
{
    private readonly Tensor _a; // [r, in], a view of the shared vera_A
    private readonly Tensor _b; // [out, r], a view of the shared vera_B

    public VeraModuleTrainer(string modulePath, long inFeatures, long outFeatures, Tensor sharedA, Tensor sharedB, double dInitial)
        : base(modulePath, inFeatures, outFeatures)
    {
        _a = sharedA.narrow(1, 0, inFeatures);   // [r, max_in] → [r, in]
        _b = sharedB.narrow(0, 0, outFeatures);  // [max_out, r] → [out, r]
        LambdaB = zeros(outFeatures).requires_grad_(true);                              // [out]
        LambdaD = full(sharedA.shape[0], dInitial, ScalarType.Float32).requires_grad_(true); // [r]
    }

    public Tensor LambdaB { get; }
    public Tensor LambdaD { get; }

    public override Tensor Forward(Tensor x, Tensor baseWeight, Tensor y)
    {
        var h = x.matmul(_a.t()).mul(LambdaD);        // [.., in]·[in, r] → [.., r], scaled by λ_d
        return y + h.matmul(_b.t()).mul(LambdaB);     // [.., r]·[r, out] → [.., out], scaled by λ_b
    }

    public override IEnumerable<AdapterParameter> Parameters()
    {
        yield return new AdapterParameter("vera_lambda_b", LambdaB, ParameterRole.Vector);
        yield return new AdapterParameter("vera_lambda_d", LambdaD, ParameterRole.Vector);
    }

    public override IEnumerable<(string Suffix, Tensor Tensor)> SavedTensors(Tensor baseWeight)
    {
        yield return ("vera_lambda_b", LambdaB.detach());
        yield return ("vera_lambda_d", LambdaD.detach());
    }

    public override void Dispose()
    {
        LambdaB.Dispose();
        LambdaD.Dispose();
    }
}
