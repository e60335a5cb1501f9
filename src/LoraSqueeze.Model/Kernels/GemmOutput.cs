namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// One projection of a group that reads the same input rows (q/k/v of a layer, gate/up of its MLP): where its weight
/// [out, in], its per-row scales (int8 storage) or null, its bias [out] or null and its output [rows, out] are.
/// </summary>
internal unsafe struct GemmOutput
{
    public byte* Weight;
    public float* Scales;
    public float* Bias;
    public float* Y;
    public int OutFeatures;
}
