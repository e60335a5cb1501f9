using static TorchSharp.torch;

namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// x·Wᵀ + b through the chosen <see cref="BaseKernel"/>; libtorch's <c>linear</c> is the reference. A bfloat16 or int8
/// <see cref="PackedWeight"/> goes through the few-row kernel in a decode step. A prefill is compute-bound, where
/// libtorch's blocked GEMM beats a streaming kernel (the few-row kernel in 16-row blocks ran a 128-token int8 prefill at
/// 250 tok/s on h1024, against 650 for this): the weight is widened into a float32 scratch the engine thread reuses
/// (no allocation per call) and multiplied by libtorch's <c>linear</c>.
/// </summary>
public static class BaseLinear
{
    /// <summary>
    /// x: [T, in], weight: [out, in] stored as float32, bfloat16 or int8, bias: [out] or null → [T, out].
    /// <paramref name="threads"/>: threads the few-row kernel splits the outputs over (the model's kernel threads).
    /// <paramref name="int8Activations"/>: with an int8 weight, a decode step's rows are quantised to int8 blocks
    /// (<see cref="ActivationQuantizer"/>) and multiplied int8 × int8 (<see cref="CpuInt8DotGemm"/>), as llama.cpp's
    /// Q8_0 does; without it the rows stay float32 and the weight is widened (the reference).
    /// </summary>
    public static unsafe Tensor Forward(Tensor x, PackedWeight weight, Tensor? bias, BaseKernel kernel, int threads, bool int8Activations = false)
    {
        if (weight.Scales is null && weight.DType == x.dtype) return Forward(x, weight.Data, bias, kernel, threads);
        if (!OnCpuKernels(x, bias, kernel) || !CpuFewRowGemm.SupportsPacked)
        {
            using var dense = weight.ToDense(x.dtype);                // [out, in]
            return nn.functional.linear(x, dense, bias);
        }
        if (x.size(0) > CpuFewRowGemm.MaxRows)
        {
            using var widened = WidenIntoScratch(weight, threads);    // [out, in], a view of the thread's scratch
            return nn.functional.linear(x, widened, bias);
        }
        // A decode step on one packed weight: the group kernel with a group of one.
        Tensor y = null!;
        RunGroup(x, new ReadOnlySpan<PackedWeight>(in weight), new ReadOnlySpan<Tensor?>(in bias), threads, int8Activations, new Span<Tensor>(ref y));
        return y;
    }

    /// <summary>
    /// Several projections of the same x [T, in] (a layer's q/k/v, its gate/up) → <paramref name="outputs"/>[i] [T, out_i].
    /// A decode step's rows through weights of one storage type run as one parallel region over all their output rows
    /// (<see cref="CpuFewRowGemm.ApplyGroup"/>, <see cref="CpuInt8DotGemm.ApplyGroup"/>; with int8 activations x is
    /// quantised once for the group); anything else is <see cref="Forward(Tensor, PackedWeight, Tensor?, BaseKernel, int, bool)"/>
    /// per weight, the reference the tests compare this with.
    /// </summary>
    public static unsafe void ForwardGroup(Tensor x, ReadOnlySpan<PackedWeight> weights, ReadOnlySpan<Tensor?> biases, BaseKernel kernel,
        int threads, bool int8Activations, Span<Tensor> outputs)
    {
        if (!CanGroup(x, weights, biases, kernel))
        {
            for (int i = 0; i < weights.Length; i++) outputs[i] = Forward(x, weights[i], biases[i], kernel, threads, int8Activations);
            return;
        }
        RunGroup(x, weights, biases, threads, int8Activations, outputs);
    }

    /// <summary>
    /// The few-row kernels over weights of one storage type (<see cref="CanGroup"/>'s conditions hold): one parallel
    /// region over all their output rows; with int8 activations and int8 weights x is quantised once and multiplied
    /// int8 × int8.
    /// </summary>
    private static unsafe void RunGroup(Tensor x, ReadOnlySpan<PackedWeight> weights, ReadOnlySpan<Tensor?> biases, int threads,
        bool int8Activations, Span<Tensor> outputs)
    {
        var xc = x.is_contiguous() ? x : x.contiguous();              // [T, in]
        int rows = (int)xc.size(0), inF = (int)xc.size(1), n = weights.Length;
        var storage = weights[0].DType;
        GemmOutput* group = stackalloc GemmOutput[n];
        for (int i = 0; i < n; i++)
        {
            outputs[i] = empty([rows, weights[i].OutFeatures], dtype: ScalarType.Float32, device: x.device);   // [T, out_i]
            group[i] = new GemmOutput
            {
                Weight = Address(weights[i].Data),
                Scales = weights[i].Scales is null ? null : (float*)Address(weights[i].Scales!),
                Bias = biases[i] is null ? null : (float*)Address(biases[i]!),
                Y = (float*)Address(outputs[i]),
                OutFeatures = (int)weights[i].OutFeatures,
            };
        }
        fixed (byte* px = xc.bytes)
        {
            if (int8Activations && storage == ScalarType.Int8 && CpuInt8DotGemm.Supports(inF))
            {
                var (pq, pqs) = QuantisedRows(rows, inF);
                fixed (sbyte* q = pq)
                fixed (float* qs = pqs)
                {
                    ActivationQuantizer.Quantize((float*)px, rows, inF, q, qs);
                    CpuInt8DotGemm.ApplyGroup(q, qs, rows, inF, group, n, threads);
                }
            }
            else
                CpuFewRowGemm.ApplyGroup((float*)px, rows, inF, group, n, storage, threads);
        }
    }

    /// <summary>A group runs as one region where every weight would take the few-row kernel and all share a storage type.</summary>
    private static bool CanGroup(Tensor x, ReadOnlySpan<PackedWeight> weights, ReadOnlySpan<Tensor?> biases, BaseKernel kernel)
    {
        if (weights.Length == 0 || x.dim() != 2) return false;
        long rows = x.size(0), inF = x.size(1);
        if (rows == 0 || rows > CpuFewRowGemm.MaxRows) return false;
        var storage = weights[0].DType;
        if (storage != ScalarType.Float32 && !CpuFewRowGemm.SupportsPacked) return false;
        for (int i = 0; i < weights.Length; i++)
        {
            var w = weights[i];
            if (!OnCpuKernels(x, biases[i], kernel) || w.DType != storage || !w.Data.is_contiguous() || w.InFeatures != inF
                || (storage == ScalarType.Float32 && w.Scales is not null) || (storage == ScalarType.Int8 && w.Scales is null))
                return false;
        }
        return storage is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Int8;
    }

    /// <summary>A tensor's first byte (<see cref="Core.Torch.TensorAddress"/>: also for tensors of 2 GiB and more).</summary>
    private static unsafe byte* Address(Tensor t) => Core.Torch.TensorAddress.Of(t);

    /// <summary>The engine thread's buffers for <paramref name="rows"/> quantised rows of <paramref name="inF"/> inputs, grown as needed.</summary>
    private static (sbyte[] Rows, float[] Scales) QuantisedRows(int rows, int inF)
    {
        int need = rows * inF;
        if (t_xq is null || t_xq.Length < need)
        {
            t_xq = new sbyte[need];
            t_xs = new float[need / ActivationQuantizer.Block];
        }
        return (t_xq, t_xs!);
    }

    /// <summary>Where the hand kernels apply: the few-row kernel chosen, float32 [T, in] rows on the CPU, a float32 contiguous bias or none.</summary>
    private static bool OnCpuKernels(Tensor x, Tensor? bias, BaseKernel kernel) =>
        kernel == BaseKernel.FewRows && x.dim() == 2 && x.device_type == TorchSharp.DeviceType.CPU && x.dtype == ScalarType.Float32
        && (bias is null || (bias.dtype == ScalarType.Float32 && bias.is_contiguous()));

    /// <summary>The engine thread's quantised activation rows (int8 [T, in]) and their block scales ([T, in / 32]), grown as needed.</summary>
    [ThreadStatic] private static sbyte[]? t_xq;
    [ThreadStatic] private static float[]? t_xs;

    /// <summary>The engine thread's widening scratch (float32), grown to the largest packed weight it has widened.</summary>
    [ThreadStatic] private static Tensor? t_scratch;

    /// <summary>The packed weight widened to float32 in the calling thread's scratch: a [out, in] view (dispose the view only).</summary>
    private static unsafe Tensor WidenIntoScratch(PackedWeight weight, int threads)
    {
        long n = weight.OutFeatures * weight.InFeatures;
        if (t_scratch is null || t_scratch.numel() < n)
        {
            t_scratch?.Dispose();
            // Outside every dispose scope: the scratch outlives the step that first needed it.
            t_scratch = empty(n, dtype: ScalarType.Float32).DetachFromDisposeScope();
        }
        var view = t_scratch.narrow(0, 0, n).view(weight.OutFeatures, weight.InFeatures);   // [out, in]
        byte* pw = Address(weight.Data), pd = Address(view);
        fixed (byte* ps = weight.Scales is null ? Span<byte>.Empty : weight.Scales.bytes)
            CpuFewRowGemm.Widen(pw, weight.DType == ScalarType.Int8, (float*)ps, (float*)pd, (int)weight.OutFeatures, (int)weight.InFeatures, threads);
        return view;
    }

    /// <summary>x: [T, in] (or [.., in] for libtorch), weight: [out, in], bias: [out] or null → [T, out].</summary>
    public static unsafe Tensor Forward(Tensor x, Tensor weight, Tensor? bias, BaseKernel kernel, int threads)
    {
        if (!OnCpuKernels(x, bias, kernel) || x.size(0) > CpuFewRowGemm.MaxRows || weight.dtype != ScalarType.Float32 || !weight.is_contiguous())
            return nn.functional.linear(x, weight, bias);
        var xc = x.is_contiguous() ? x : x.contiguous();              // [T, in]
        int rows = (int)xc.size(0), inF = (int)xc.size(1), outF = (int)weight.size(0);
        var y = empty([rows, outF], dtype: ScalarType.Float32, device: x.device);   // [T, out]
        byte* pw = Address(weight);
        fixed (byte* px = xc.bytes, py = y.bytes, pb = bias is null ? Span<byte>.Empty : bias.bytes)
            CpuFewRowGemm.Apply((float*)px, rows, (float*)pw, (float*)pb, (float*)py, inF, outF, threads);
        return y;
    }
}
