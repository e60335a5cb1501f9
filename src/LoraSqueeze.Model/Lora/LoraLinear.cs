using LoraSqueeze.Core.Adapters;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Lora;

/// <summary>
/// A base linear layer (y = x·Wᵀ + b) plus stacked adapter slots, after vLLM's <c>lora/layers</c> LoraLinear:
/// A stacked as [slots, rank, in] and B stored transposed as [slots, rank, out] (both row-major in the rank, so the CPU
/// kernel streams whole rows; Punica keeps its expand weights the same way), allocated once and written in place by
/// <see cref="SetSlot"/>/<see cref="ResetSlot"/>. The LoRA term is y += (x·Aₛᵀ)·Bₛᵀ for the slot s of each row; the
/// adapter's scaling is already folded into its factors (<see cref="LoraModule"/>).
/// </summary>
public sealed class LoraLinear : IDisposable
{

    /// <summary>Allocates uninitialised base weights (the loader fills them) and zeroed slots.</summary>
    public LoraLinear(string path, long inFeatures, long outFeatures, bool bias, int slots, int slotRank,
        LoraKernel kernel, ScalarType dtype, Device device, ScalarType? slotDtype = null)
    {
        Path = path;
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Kernel = kernel;
        _computeDType = dtype;
        Base = Kernels.PackedWeight.Dense(empty([outFeatures, inFeatures], dtype: dtype, device: device)); // [out, in], HF layout
        Bias = bias ? empty([outFeatures], dtype: dtype, device: device) : null;
        SlotRank = slotRank;
        if (slots > 0 && slotRank > 0)
        {
            A = zeros([slots, slotRank, inFeatures], dtype: slotDtype ?? dtype, device: device); // [slots, r, in]
            B = zeros([slots, slotRank, outFeatures], dtype: slotDtype ?? dtype, device: device); // [slots, r, out] (Bᵀ per slot)
            if (slotDtype == ScalarType.Int8)
            {
                AScale = zeros([slots, slotRank], dtype: ScalarType.Float32, device: device);      // [slots, r]
                BScale = zeros([slots, slotRank], dtype: ScalarType.Float32, device: device);      // [slots, r]
            }
        }
    }

    /// <summary>int8 slots only: the float32 scale of each rank row of A, [slots, r] (A ≈ q·scale row-wise).</summary>
    public Tensor? AScale { get; }

    /// <summary>int8 slots only: the float32 scale of each rank row of Bᵀ, [slots, r].</summary>
    public Tensor? BScale { get; }

    /// <summary>Bytes one slot takes in this projection (factors, plus scales for int8).</summary>
    public long SlotBytes => A is null ? 0
        : A[0].numel() * A.ElementSize + B![0].numel() * B.ElementSize + (AScale is null ? 0 : 2L * SlotRank * sizeof(float));

    /// <summary>Slot s's A as [r, in] in <paramref name="dtype"/> (dequantised for int8 slots).</summary>
    public Tensor SlotA(int slot, ScalarType dtype) =>
        AScale is null ? A![slot].to_type(dtype) : A![slot].to_type(dtype).mul(AScale[slot].unsqueeze(1).to_type(dtype)); // [r, in]·[r, 1]

    /// <summary>Slot s's Bᵀ as [r, out] in <paramref name="dtype"/> (dequantised for int8 slots).</summary>
    public Tensor SlotBt(int slot, ScalarType dtype) =>
        BScale is null ? B![slot].to_type(dtype) : B![slot].to_type(dtype).mul(BScale[slot].unsqueeze(1).to_type(dtype)); // [r, out]·[r, 1]

    /// <summary>HF module path, e.g. <c>model.layers.0.self_attn.q_proj</c>.</summary>
    public string Path { get; }
    public long InFeatures { get; }
    public long OutFeatures { get; }
    public int SlotRank { get; }

    /// <summary>How the LoRA term is computed; switchable between steps (benchmarks compare both).</summary>
    public LoraKernel Kernel { get; set; }

    /// <summary>How the base projection x·Wᵀ + b is computed; switchable between steps (libtorch is the reference).</summary>
    public Kernels.BaseKernel BaseKernel { get; set; } = Kernels.BaseKernel.FewRows;
    /// <summary>An int8 base weight multiplies int8-quantised rows in decode steps (<see cref="ModelLoadOptions.Int8Activations"/>); switchable between steps.</summary>
    public bool Int8Activations { get; set; }

    /// <summary>The base weight as stored for serving: the loaded dense tensor, or a bfloat16/int8 copy after <see cref="PackBase"/>.</summary>
    public Kernels.PackedWeight Base { get; private set; }

    /// <summary>
    /// The dense base weight [out, in] (what the loader fills and training reads). After <see cref="PackBase"/> to
    /// bfloat16 or int8 there is none: use <see cref="DenseWeight"/> for a dequantised copy.
    /// </summary>
    public Tensor Weight => Base.Scales is null && Base.DType == _computeDType
        ? Base.Data
        : throw new InvalidOperationException($"{Path}: the base weight is stored as {Base.DType}; DenseWeight() gives a dequantised copy");

    /// <summary>The base weight as a new dense tensor of the compute dtype (dequantised when packed).</summary>
    public Tensor DenseWeight() => Base.ToDense(_computeDType);

    /// <summary>
    /// Replaces the dense base weight by a packed copy in <paramref name="dtype"/> (bfloat16: half the bytes, int8 with
    /// per-row scales: a quarter). Done once, after loading; the LoRA slots are unaffected.
    /// </summary>
    public void PackBase(ScalarType dtype)
    {
        if (dtype == _computeDType) return;
        var packed = Kernels.PackedWeight.Pack(Base.Data, dtype);
        Base.Dispose();
        Base = packed;
    }

    private readonly ScalarType _computeDType;

    public Tensor? Bias { get; }

    /// <summary>Stacked A factors [slots, r, in], or null without adapter slots.</summary>
    public Tensor? A { get; }

    /// <summary>Stacked B factors, transposed: [slots, r, out] (slot s holds Bₛᵀ), or null without adapter slots.</summary>
    public Tensor? B { get; }

    /// <summary>Base projection plus the batched LoRA term. x: [T, in] → [T, out].</summary>
    public Tensor Forward(Tensor x, LoraMapping? mapping)
    {
        var y = Kernels.BaseLinear.Forward(x, Base, Bias, BaseKernel, Threads, Int8Activations); // [T, out]
        AddLora(x, y, mapping);
        return y;
    }

    /// <summary>The batched LoRA term added in place: y [T, out] += each row's adapter term of x [T, in] (nothing without adapter rows).</summary>
    internal void AddLora(Tensor x, Tensor y, LoraMapping? mapping)
    {
        if (mapping is null || mapping.IsEmpty || A is null || B is null) return;
        switch (Kernel)
        {
            case LoraKernel.Gathered:
                AddGathered(x, y, mapping);
                break;
            case LoraKernel.Segmented:
                for (int g = 0; g < mapping.Segments.Count; g++)
                    AddSegment(x, y, mapping.SegmentSlots[g], mapping.Segments[g].Start, mapping.Segments[g].Count);
                break;
            default:
                if (CanRunCpuKernel(x, y)) AddBgmv(x, y, mapping);
                else AddGathered(x, y, mapping);
                break;
        }
    }

    /// <summary>
    /// The training path: the base projection, then <paramref name="hook"/> (a trainable adapter) given this layer, its
    /// input and the base output. x: [.., in] → [.., out]. Slots are not used.
    /// </summary>
    public Tensor ForwardTraining(Tensor x, ProjectionHook? hook)
    {
        var y = nn.functional.linear(x, Weight, Bias); // [.., out]
        return hook is null ? y : hook(this, x, y);
    }

    /// <summary>
    /// One adapter's rows: y[seg] += Σ over its slots s of (x[seg]·Aₛᵀ)·Bₛᵀ. Reads each adapter's factors once per step.
    /// </summary>
    private void AddSegment(Tensor x, Tensor y, IReadOnlyList<int> slots, int start, int count)
    {
        var xs = x.narrow(0, start, count);                 // [n, in]
        var ys = y.narrow(0, start, count);                 // [n, out], a view: addmm_ writes into y
        foreach (var slot in slots)
        {
            var h = xs.matmul(SlotA(slot, x.dtype).t());     // [n, in]·[in, r] → [n, r]
            ys.addmm_(h, SlotBt(slot, x.dtype));             // [n, r]·[r, out] added in place into y[seg]
        }
    }

    /// <summary>Threads the CPU kernels (few-row GEMM, BGMV) split their work over; the model sets it (<see cref="ModelLoadOptions.KernelThreads"/>).</summary>
    public int Threads { get; set; } = 1;

    private bool CanRunCpuKernel(Tensor x, Tensor y) =>
        x.device_type == TorchSharp.DeviceType.CPU && x.dtype == ScalarType.Float32 && y.dtype == ScalarType.Float32 &&
        A!.dtype is ScalarType.Float32 or ScalarType.BFloat16 or ScalarType.Int8;

    /// <summary>Short segments row by row through <see cref="CpuLoraKernel"/>; long segments (prefill) as GEMMs.</summary>
    private unsafe void AddBgmv(Tensor x, Tensor y, LoraMapping mapping)
    {
        foreach (var (slots, start, count) in mapping.LongSegments) AddSegment(x, y, slots, start, count);
        if (mapping.ShortRows.Length == 0) return;
        var xc = x.is_contiguous() ? x : x.contiguous();   // [T, in]
        if (!y.is_contiguous()) throw new InvalidOperationException($"{Path}: the projection output is not contiguous");
        _stacks ??= Stacks();
        fixed (byte* px = xc.bytes, py = y.bytes)
        {
            CpuLoraKernel.Apply((float*)px, (float*)py, _stacks.Value, mapping.ShortRows, mapping.ShortSlotStart, mapping.ShortSlots, Threads);
        }
    }

    private SlotStacks? _stacks;

    /// <summary>The slot stacks' raw addresses: allocated once in the constructor and written in place ever after, so
    /// they are read once and kept.</summary>
    private unsafe SlotStacks Stacks()
    {
        var format = A!.dtype switch
        {
            ScalarType.BFloat16 => SlotFormat.BFloat16,
            ScalarType.Int8 => SlotFormat.Int8,
            _ => SlotFormat.Float32,
        };
        fixed (byte* pa = A.bytes, pb = B!.bytes)
        {
            nint aScale = 0, bScale = 0;
            if (AScale is not null)
            {
                fixed (byte* sa = AScale.bytes, sb = BScale!.bytes)
                {
                    aScale = (nint)sa;
                    bScale = (nint)sb;
                }
            }
            return new SlotStacks(format, (nint)pa, (nint)pb, aScale, bScale, (int)InFeatures, (int)OutFeatures, SlotRank);
        }
    }

    /// <summary>
    /// Gather per (row, slot) pair then bmm (BGMV-style); copies P·r·(in+out) weights per step. With one slot per row the
    /// pairs are the LoRA rows in order; otherwise a row's terms are summed into it with index_add_.
    /// </summary>
    private void AddGathered(Tensor x, Tensor y, LoraMapping mapping)
    {
        var slots = mapping.PairSlots!;
        int first = mapping.FirstLoraRow, n = mapping.Rows - first;
        var xs = (mapping.OneSlotPerRow ? x.narrow(0, first, n) : x.index_select(0, mapping.PairRows!)).unsqueeze(1); // [P, 1, in]
        var a = A!.index_select(0, slots).to_type(x.dtype);      // [P, r, in]
        var b = B!.index_select(0, slots).to_type(x.dtype);      // [P, r, out]
        if (AScale is not null)
        {
            a = a.mul(AScale.index_select(0, slots).unsqueeze(2).to_type(x.dtype));  // [P, r, in]·[P, r, 1]
            b = b.mul(BScale!.index_select(0, slots).unsqueeze(2).to_type(x.dtype)); // [P, r, out]·[P, r, 1]
        }
        var h = bmm(xs, a.transpose(1, 2));                      // [P, 1, in]·[P, in, r] → [P, 1, r]
        var d = bmm(h, b).squeeze(1);                            // [P, 1, r]·[P, r, out] → [P, out]
        if (mapping.OneSlotPerRow) y.narrow(0, first, n).add_(d);
        else y.index_add_(0, mapping.PairRows!, d, 1);           // y[row] += d[pair] for every pair of the row
    }

    /// <summary>Writes one adapter module into a slot (rank ≤ slot rank; padded rows/columns zeroed).</summary>
    public void SetSlot(int slot, Tensor a, Tensor b)
    {
        int r = (int)a.shape[0];
        var aSlot = A![slot];                  // [R, in]
        var bSlot = B![slot];                  // [R, out]
        if (r < SlotRank)
        {
            aSlot.zero_();
            bSlot.zero_();
            AScale?[slot].zero_();
            BScale?[slot].zero_();
        }
        if (AScale is null)
        {
            aSlot.narrow(0, 0, r).copy_(a);        // leading r rows of A
            bSlot.narrow(0, 0, r).copy_(b.t());    // leading r rows of Bᵀ ([out, r] → [r, out])
            return;
        }
        Quantize(a, aSlot.narrow(0, 0, r), AScale[slot].narrow(0, 0, r));
        Quantize(b.t(), bSlot.narrow(0, 0, r), BScale![slot].narrow(0, 0, r));
    }

    /// <summary>Symmetric per-row int8 (<see cref="Kernels.RowQuantizer"/>, the scheme of the int8 base weights too).</summary>
    private static void Quantize(Tensor rows, Tensor q, Tensor scale) => Kernels.RowQuantizer.QuantizeInt8(rows, q, scale);

    /// <summary>Zeroes one slot (an adapter that does not target this module, or an evicted one).</summary>
    public void ResetSlot(int slot)
    {
        A![slot].zero_();
        B![slot].zero_();
        AScale?[slot].zero_();
        BScale?[slot].zero_();
    }

    /// <summary>Weight merged with one slot's adapter, W + Bₛ·Aₛ (the reference path).</summary>
    public Tensor MergedWeight(int slot) => MergedWeight(slot < 0 ? [] : [slot]);

    /// <summary>Weight merged with an adapter's slot group, W + Σₛ Bₛ·Aₛ (the reference path; no slots: W).</summary>
    public Tensor MergedWeight(IReadOnlyList<int> slots)
    {
        var w = DenseWeight();                                                                   // [out, in]
        if (A is null) return w;
        foreach (var slot in slots) w.add_(SlotBt(slot, w.dtype).t().matmul(SlotA(slot, w.dtype))); // [out, r]·[r, in] → [out, in]
        return w;
    }

    public void Dispose()
    {
        Base.Dispose();
        Bias?.Dispose();
        A?.Dispose();
        B?.Dispose();
        AScale?.Dispose();
        BScale?.Dispose();
    }
}
