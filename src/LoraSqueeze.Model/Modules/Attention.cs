using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Lora;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Modules;

/// <summary>
/// Causal self-attention with grouped-query heads over the engine's KV cache (HF <c>LlamaAttention</c> maths): q/k/v
/// projections (bias for qwen2), RoPE, write new K/V into the cache, attend over each chunk's cached prefix with SDPA.
/// Tokens arrive packed ([T, hidden], chunks back to back); attention pads queries to [S, heads, Qmax, d].
/// </summary>
public sealed class Attention : IDisposable
{
    private readonly int _heads, _kvHeads, _headDim;

    public Attention(string prefix, ModelConfig config, ModelLoadOptions options, ScalarType dtype, Device device)
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.NumKvHeads;
        _headDim = config.HeadDim;
        LoraLinear Make(string name, long i, long o, bool bias) =>
            new($"{prefix}.{name}", i, o, bias, options.AdapterSlots, options.SlotRank, options.LoraKernel, dtype, device, options.SlotDType) { BaseKernel = options.BaseKernel };
        QProj = Make("q_proj", config.HiddenSize, (long)_heads * _headDim, config.QkvBias);
        KProj = Make("k_proj", config.HiddenSize, (long)_kvHeads * _headDim, config.QkvBias);
        VProj = Make("v_proj", config.HiddenSize, (long)_kvHeads * _headDim, config.QkvBias);
        OProj = Make("o_proj", (long)_heads * _headDim, config.HiddenSize, config.OBias);
        Qkv = new ProjectionGroup(QProj, KProj, VProj);
        Kernel = options.AttentionKernel;
    }

    /// <summary>Threads the in-place decode attention splits its (sequence, head) pairs over (the model's kernel threads).</summary>
    public int Threads { get; set; } = 1;

    /// <summary>How this layer attends over the cache; switchable between steps (SDPA is the reference).</summary>
    public Kernels.AttentionKernel Kernel { get; set; }

    /// <summary>Score scratch of the in-place decode kernel, per thread (the engine thread owns the model), grown as needed.</summary>
    [ThreadStatic] private static float[]? t_scores;

    public LoraLinear QProj { get; }
    public LoraLinear KProj { get; }
    public LoraLinear VProj { get; }
    public LoraLinear OProj { get; }

    public IEnumerable<LoraLinear> Projections => [QProj, KProj, VProj, OProj];

    /// <summary>q, k and v, which read the same normed rows: one GEMM region for the three in a decode step.</summary>
    public ProjectionGroup Qkv { get; }

    /// <summary>x: [T, hidden] → [T, hidden]; writes this step's K/V into <paramref name="keys"/>/<paramref name="values"/>
    /// ([rows, maxLen, kvHeads, d]) in place.</summary>
    internal Tensor Forward(Tensor x, StepBatch batch, Tensor keys, Tensor values)
    {
        long t = x.size(0);
        int s = batch.Chunks, qmax = batch.QueryLength, kmax = batch.KeyLength;
        var qkv = Qkv.Forward(x, batch.Lora);
        var q = qkv[0].view(t, _heads, _headDim);                           // [T, H*d] → [T, H, d]
        var k = qkv[1].view(t, _kvHeads, _headDim);                         // [T, KvH*d] → [T, KvH, d]
        var v = qkv[2].view(t, _kvHeads, _headDim);                         // [T, KvH*d] → [T, KvH, d]
        long maxLen = keys.size(1);
        if (CanRopeInPlace(q, k, batch))
        {
            RopeInPlace(q, batch);   // the projections' fresh outputs, rotated where they are
            if (Kernel == Kernels.AttentionKernel.InPlace && CanWriteCacheDirectly(k, v, keys, values))
                RopeKeysIntoCache(k, v, keys, values, batch);   // k rotated on its way into the cache, v copied: one pass
            else
            {
                RopeInPlace(k, batch);
                WriteCache(k, v, keys, values, batch);
            }
        }
        else
        {
            q = RotaryEmbedding.Apply(q, batch.Cos!, batch.Sin!);
            k = RotaryEmbedding.Apply(k, batch.Cos!, batch.Sin!);
            WriteCache(k, v, keys, values, batch);
        }

        if (Kernel == Kernels.AttentionKernel.InPlace && qmax == 1 && keys.device_type == TorchSharp.DeviceType.CPU
            && keys.dtype == ScalarType.Float32 && q.dtype == ScalarType.Float32 && keys.is_contiguous() && values.is_contiguous())
            return OProj.Forward(DecodeInPlace(q, keys, values, batch, (int)maxLen), batch.Lora);

        // Each chunk's keys 0..Kmax-1 from its cache row: [rows, maxLen, KvH, d] → [S, Kmax, KvH, d] → [S, KvH, Kmax, d]
        var kc = ExpandKv(keys.narrow(1, 0, kmax).index_select(0, batch.CacheRows).transpose(1, 2), s, kmax);
        var vc = ExpandKv(values.narrow(1, 0, kmax).index_select(0, batch.CacheRows).transpose(1, 2), s, kmax);

        Tensor qp;
        if (batch.PadIndex is null)
        {
            qp = q.view(s, qmax, _heads, _headDim);                                         // [T, H, d] → [S, Qmax, H, d]
        }
        else
        {
            qp = zeros([(long)s * qmax, _heads, _headDim], dtype: q.dtype, device: q.device)
                .index_copy_(0, batch.PadIndex, q)                                          // [S·Qmax, H, d]
                .view(s, qmax, _heads, _headDim);                                           // [S, Qmax, H, d]
        }
        var o = Sdpa(qp.transpose(1, 2), kc, vc, batch.Mask);                               // [S, H, Qmax, d]
        o = o.transpose(1, 2).reshape((long)s * qmax, (long)_heads * _headDim);            // [S, Qmax, H, d] → [S·Qmax, H·d]
        if (batch.PadIndex is not null) o = o.index_select(0, batch.PadIndex);              // [T, H·d]
        return OProj.Forward(o, batch.Lora);                                                // [T, hidden]
    }

    /// <summary>Float32 CPU serving tensors (outside autograd): RoPE as one in-place pass (<see cref="Kernels.CpuElementwise.RopeInPlace"/>).</summary>
    private static bool CanRopeInPlace(Tensor q, Tensor k, StepBatch batch) =>
        q.device_type == TorchSharp.DeviceType.CPU && q.dtype == ScalarType.Float32 && k.dtype == ScalarType.Float32
        && batch.Cos!.dtype == ScalarType.Float32 && q.is_contiguous() && k.is_contiguous() && batch.Cos.is_contiguous() && batch.Sin!.is_contiguous()
        && !q.requires_grad && !k.requires_grad;

    /// <summary>The reference cache write: this step's K/V rows [T, KvH, d] into [rows·maxLen, KvH, d] views of the cache at CacheIndex.</summary>
    private void WriteCache(Tensor k, Tensor v, Tensor keys, Tensor values, StepBatch batch)
    {
        long rows = keys.size(0), maxLen = keys.size(1);
        keys.view(rows * maxLen, _kvHeads, _headDim).index_copy_(0, batch.CacheIndex, k);   // [rows·maxLen, KvH, d]
        values.view(rows * maxLen, _kvHeads, _headDim).index_copy_(0, batch.CacheIndex, v);
    }

    /// <summary>Float32 contiguous CPU cache and K/V rows (the in-place attention's conditions): the cache can be written through pointers.</summary>
    private static bool CanWriteCacheDirectly(Tensor k, Tensor v, Tensor keys, Tensor values) =>
        keys.device_type == TorchSharp.DeviceType.CPU && keys.dtype == ScalarType.Float32 && values.dtype == ScalarType.Float32
        && v.dtype == ScalarType.Float32 && keys.is_contiguous() && values.is_contiguous() && v.is_contiguous() && k.is_contiguous();

    /// <summary>k, v: [T, KvH, d] → the cache rows at <see cref="StepBatch.HostCacheIndex"/>, k rotated on the way.</summary>
    private unsafe void RopeKeysIntoCache(Tensor k, Tensor v, Tensor keys, Tensor values, StepBatch batch)
    {
        byte* pkeys = Core.Torch.TensorAddress.Of(keys), pvalues = Core.Torch.TensorAddress.Of(values);   // a cache layer may exceed what a Span spans
        fixed (byte* pk = k.bytes, pv = v.bytes, pc = batch.Cos!.bytes, ps = batch.Sin!.bytes)
        fixed (long* pi = batch.HostCacheIndex)
        {
            Kernels.CpuElementwise.RopeKeysIntoCache((float*)pk, (float*)pv, (int)k.size(0), _kvHeads, _headDim, (float*)pc, (float*)ps,
                (float*)pkeys, (float*)pvalues, pi);
        }
    }

    /// <summary>x: [T, heads, d] rotated in place by each token's cos/sin row ([T, d]).</summary>
    private static unsafe void RopeInPlace(Tensor x, StepBatch batch)
    {
        fixed (byte* px = x.bytes, pc = batch.Cos!.bytes, ps = batch.Sin!.bytes)
            Kernels.CpuElementwise.RopeInPlace((float*)px, (int)x.size(0), (int)x.size(1), (int)x.size(2), (float*)pc, (float*)ps);
    }

    /// <summary>A decode step's attention read in place in the cache: q [S, H, d] → [S, H·d].</summary>
    private unsafe Tensor DecodeInPlace(Tensor q, Tensor keys, Tensor values, StepBatch batch, int maxLen)
    {
        var qc = q.is_contiguous() ? q : q.contiguous();                                     // [S, H, d]
        var o = empty([q.size(0), (long)_heads * _headDim], dtype: ScalarType.Float32, device: q.device);   // [S, H·d]
        int need = Kernels.CpuDecodeAttention.ScratchFloats(maxLen, _heads / _kvHeads, Threads);   // a GQA group's score rows per thread
        if (t_scores is null || t_scores.Length < need) t_scores = new float[need];
        byte* pk = Core.Torch.TensorAddress.Of(keys), pv = Core.Torch.TensorAddress.Of(values);   // a cache layer may exceed what a Span spans
        fixed (byte* pq = qc.bytes, po = o.bytes)
        fixed (float* ps = t_scores)
        {
            Kernels.CpuDecodeAttention.Apply((float*)pq, (float*)pk, (float*)pv, batch.HostCacheRows, batch.HostKeyLengths,
                (float*)po, _heads, _kvHeads, _headDim, maxLen, ps, Threads);
        }
        return o;
    }

    /// <summary>
    /// The training path: x [B, T, hidden] → [B, T, hidden], every row a sequence from position 0, causal SDPA, no cache;
    /// each projection's output goes through <paramref name="hook"/>. cos/sin: [T, head_dim].
    /// </summary>
    internal Tensor ForwardSequence(Tensor x, Tensor cos, Tensor sin, ProjectionHook? hook)
    {
        long b = x.shape[0], t = x.shape[1];
        var cosRows = cos.unsqueeze(0).expand(b, t, _headDim).reshape(b * t, _headDim);    // [T, d] → [B·T, d]
        var sinRows = sin.unsqueeze(0).expand(b, t, _headDim).reshape(b * t, _headDim);
        var q = QProj.ForwardTraining(x, hook).view(b * t, _heads, _headDim);               // [B, T, H·d] → [B·T, H, d]
        var k = KProj.ForwardTraining(x, hook).view(b * t, _kvHeads, _headDim);             // [B·T, KvH, d]
        var v = VProj.ForwardTraining(x, hook).view(b, t, _kvHeads, _headDim);              // [B, T, KvH, d]
        q = RotaryEmbedding.Apply(q, cosRows, sinRows).view(b, t, _heads, _headDim).transpose(1, 2);    // [B, H, T, d]
        k = RotaryEmbedding.Apply(k, cosRows, sinRows).view(b, t, _kvHeads, _headDim).transpose(1, 2);  // [B, KvH, T, d]
        var kc = ExpandKv(k, (int)b, (int)t);                                               // [B, H, T, d]
        var vc = ExpandKv(v.transpose(1, 2), (int)b, (int)t);                               // [B, H, T, d]
        var o = nn.functional.scaled_dot_product_attention(q, kc, vc, is_casual: true);     // [B, H, T, d]
        o = o.transpose(1, 2).reshape(b, t, (long)_heads * _headDim);                       // [B, T, H, d] → [B, T, H·d]
        return OProj.ForwardTraining(o, hook);                                              // [B, T, hidden]
    }

    /// <summary>GQA: repeat each KV head for its query group. [S, KvH, K, d] → [S, H, K, d].</summary>
    private Tensor ExpandKv(Tensor kv, int s, int kmax)
    {
        if (_kvHeads == _heads) return kv;
        int group = _heads / _kvHeads;
        return kv.unsqueeze(2).expand(s, _kvHeads, group, kmax, _headDim)                  // [S, KvH, G, K, d]
            .reshape(s, _heads, kmax, _headDim);                                            // [S, H, K, d]
    }

    /// <summary>The one call site of SDPA: TorchSharp 0.107 spells the flag <c>is_casual</c> and has no scale/GQA
    /// arguments (PR #1473 will rename it). The default scale 1/√d is LLaMA's. mask: true = attend.</summary>
    internal static Tensor Sdpa(Tensor q, Tensor k, Tensor v, Tensor mask) =>
        nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask, is_casual: false);

    public void Dispose()
    {
        foreach (var p in Projections) p.Dispose();
    }
}
