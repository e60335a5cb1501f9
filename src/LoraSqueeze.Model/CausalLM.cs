using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model.Cache;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Loading;
using LoraSqueeze.Model.Lora;
using LoraSqueeze.Model.Modules;
using static TorchSharp.torch;

namespace LoraSqueeze.Model;

/// <summary>
/// A Llama-family causal language model (llama, mistral, qwen2; HF <c>LlamaForCausalLM</c>) with multi-adapter LoRA
/// slots in every attention and MLP projection. Stateless between calls: the KV cache is passed in by the engine.
/// Parameters are plain tensors named by their HF state-dict keys (<see cref="NamedParameters"/>), allocated empty and
/// filled by the loader, never randomly initialised. Engine-thread only.
/// </summary>
public sealed class CausalLM : IDisposable
{
    private Tensor? _lmHead;

    /// <summary>The LM head packed to <see cref="ModelLoadOptions.WeightDType"/>, or null (the dense head is used).</summary>
    private Kernels.PackedWeight? _packedHead;

    private CausalLM(ModelConfig config, Device device, ModelLoadOptions options)
    {
        if (options.AdapterSlots < 0) throw new ArgumentOutOfRangeException(nameof(options), "AdapterSlots must be ≥ 0");
        if (options.AdapterSlots > 0 && options.SlotRank < 1)
            throw new ArgumentOutOfRangeException(nameof(options), options.LoraLayout == LoraLayout.Padded ? "PaddedMaxRank must be ≥ 1" : "AdapterRank must be ≥ 1");
        if (options.LoraLayout == LoraLayout.Padded && options.PaddedMaxRank < options.AdapterRank)
            throw new ArgumentOutOfRangeException(nameof(options), "PaddedMaxRank must be ≥ AdapterRank");
        Config = config;
        Options = options;
        BaseKernel = options.BaseKernel;
        Device = device;
        ComputeDType = options.ComputeDType ?? (device.type == TorchSharp.DeviceType.CPU ? ScalarType.Float32 : StoredDType(config));
        if (options.WeightDType is { } wd && wd != ComputeDType)
        {
            // Refused here, before any weight is read: packed base weights are a CPU decode feature.
            if (wd is not (ScalarType.BFloat16 or ScalarType.Int8))
                throw new ArgumentException($"base weight dtype {wd} is not one of float32, bfloat16, int8");
            if (device.type != TorchSharp.DeviceType.CPU || ComputeDType != ScalarType.Float32)
                throw new ArgumentException($"base weights stored as {wd} need the CPU with float32 compute (the few-row kernel widens them); this model runs on {device.type} in {ComputeDType}");
            if (options.ForTraining)
                throw new ArgumentException($"base weights stored as {wd} cannot be trained through; train on float32 weights");
        }
        if (options.Int8Activations && options.WeightDType != ScalarType.Int8)
            throw new ArgumentException($"int8 activations multiply int8 weights; the base weights are stored as {options.WeightDType?.ToString() ?? ComputeDType.ToString()} (set the weight dtype to int8)");
        // Everything is created under inference mode, the mode every later write (load, install, cache) runs in;
        // a model built for training is not, so that autograd can save its weights for backward.
        using IDisposable? mode = options.ForTraining ? null : inference_mode();
        EmbedTokens = empty([config.VocabSize, config.HiddenSize], dtype: ComputeDType, device: device);  // [vocab, hidden]
        Layers = Enumerable.Range(0, config.NumHiddenLayers)
            .Select(i => new DecoderLayer(i, config, options, ComputeDType, device)).ToList();
        Norm = new RmsNorm("model.norm", config.HiddenSize, config.RmsNormEps, ComputeDType, device);
        if (!config.TieWordEmbeddings) _lmHead = empty([config.VocabSize, config.HiddenSize], dtype: ComputeDType, device: device);
        Rotary = new RotaryEmbedding(config, ComputeDType, device);
        Adapters = new AdapterSlots(Projections, options.AdapterSlots, options.SlotRank, options.LoraLayout);
        KernelThreads = Math.Max(1, options.KernelThreads ?? get_num_threads());
        foreach (var p in Projections) p.Threads = KernelThreads;
        foreach (var l in Layers) l.SelfAttn.Threads = KernelThreads;
        SetInt8Activations(options.Int8Activations);
    }

    /// <summary>Whether int8 base weights multiply int8-quantised activation rows in decode steps (<see cref="ModelLoadOptions.Int8Activations"/>).</summary>
    public bool Int8Activations { get; private set; }

    /// <summary>Switches int8 activations for every projection and the LM head (between steps only; float32 rows are the reference).</summary>
    public void SetInt8Activations(bool on)
    {
        Int8Activations = on;
        foreach (var p in Projections) p.Int8Activations = on;
    }

    /// <summary>Threads the CPU kernels split a decode step over (<see cref="ModelLoadOptions.KernelThreads"/>).</summary>
    public int KernelThreads { get; }

    public ModelConfig Config { get; }
    public ModelLoadOptions Options { get; }
    public Device Device { get; }

    /// <summary>float32 on CPU; the stored dtype on a GPU unless overridden.</summary>
    public ScalarType ComputeDType { get; }

    /// <summary>The adapter slots (install/clear one slot at a time).</summary>
    public AdapterSlots Adapters { get; }

    public Tensor EmbedTokens { get; }
    public IReadOnlyList<DecoderLayer> Layers { get; }
    public RmsNorm Norm { get; }
    internal RotaryEmbedding Rotary { get; }

    /// <summary>
    /// The output projection [vocab, hidden]; the embedding matrix when tied. An untied head packed to bfloat16/int8
    /// has no dense tensor: <see cref="DenseLmHead"/> gives a dequantised copy.
    /// </summary>
    public Tensor LmHead => _lmHead ?? (_packedHead is null || Config.TieWordEmbeddings
        ? EmbedTokens
        : throw new InvalidOperationException($"the LM head is stored as {_packedHead.DType}; DenseLmHead() gives a dequantised copy"));

    /// <summary>The LM head as the step computes with it, dense in the compute dtype (dequantised when packed; the reference path).</summary>
    public Tensor DenseLmHead() => _packedHead?.ToDense(ComputeDType) ?? LmHead;

    /// <summary>Base weight storage: the compute dtype, or what <see cref="ModelLoadOptions.WeightDType"/> packed it to.</summary>
    public ScalarType WeightDType => _packedHead?.DType ?? ComputeDType;

    /// <summary>Bytes of base weights one decode step reads: every projection and the LM head, as stored.</summary>
    public long StepWeightBytes => Projections.Sum(p => p.Base.Bytes)
        + (_packedHead?.Bytes ?? LmHead.numel() * LmHead.ElementSize);

    /// <summary>Every LoRA-capable projection, in layer order.</summary>
    public IEnumerable<LoraLinear> Projections =>
        Layers.SelectMany(l => l.SelfAttn.Projections.Concat(l.Mlp.Projections));

    /// <summary>Loads a Hugging Face model folder: config.json plus model.safetensors or a sharded index.</summary>
    public static CausalLM Load(string modelDir, Device device, ModelLoadOptions options)
    {
        TorchRuntime.EnsureInitialized();
        var config = ModelConfig.Load(modelDir);
        var model = new CausalLM(config, device, options);
        try
        {
            WeightLoader.Load(model, modelDir);
            if (options.WeightDType is { } wd && wd != model.ComputeDType) model.PackBaseWeights(wd);
            if (options.HugePages && !options.ForTraining) model.HugePageBytes = model.CollapseIntoHugePages();
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    /// <summary>A model with uninitialised weights (for fixtures and benchmarks that fill them).</summary>
    public static CausalLM Create(ModelConfig config, Device device, ModelLoadOptions options)
    {
        TorchRuntime.EnsureInitialized();
        config.Validate();
        return new CausalLM(config, device, options);
    }

    /// <summary>HF state-dict names and tensors (lm_head only when untied).</summary>
    public IEnumerable<(string Name, Tensor Tensor)> NamedParameters()
    {
        yield return ("model.embed_tokens.weight", EmbedTokens);
        foreach (var layer in Layers)
        {
            yield return (layer.InputLayernorm.Path + ".weight", layer.InputLayernorm.Weight);
            yield return (layer.PostAttentionLayernorm.Path + ".weight", layer.PostAttentionLayernorm.Weight);
            foreach (var p in layer.SelfAttn.Projections.Concat(layer.Mlp.Projections))
            {
                yield return (p.Path + ".weight", p.Weight);
                if (p.Bias is not null) yield return (p.Path + ".bias", p.Bias);
            }
        }
        yield return ("model.norm.weight", Norm.Weight);
        if (_lmHead is not null) yield return ("lm_head.weight", _lmHead);
    }

    /// <summary>
    /// Stores every base projection and the LM head as <paramref name="dtype"/> (bfloat16, or int8 with per-row scales)
    /// for serving; the embedding stays dense (a step reads one row of it per token). A tied head gets its own packed
    /// copy. Done once, after loading; after it <see cref="NamedParameters"/> no longer applies (nothing is dense).
    /// </summary>
    public void PackBaseWeights(ScalarType dtype)
    {
        using var mode = inference_mode();
        foreach (var p in Projections) p.PackBase(dtype);
        _packedHead = Kernels.PackedWeight.Pack(LmHead, dtype);
        _lmHead?.Dispose();
        _lmHead = null;
    }

    /// <summary>Bytes of weights and slots on huge pages (<see cref="ModelLoadOptions.HugePages"/>; 0 when off or refused).</summary>
    public long HugePageBytes { get; private set; }

    /// <summary>What a decode step streams — every base projection (and its int8 scales), the LM head, the adapter slots — onto huge pages.</summary>
    private long CollapseIntoHugePages()
    {
        if (Device.type != TorchSharp.DeviceType.CPU) return 0;
        long bytes = 0;
        foreach (var p in Projections)
        {
            bytes += Core.Torch.HugePages.Collapse(p.Base.Data);
            if (p.A is not null) bytes += Core.Torch.HugePages.Collapse(p.A);
            if (p.B is not null) bytes += Core.Torch.HugePages.Collapse(p.B);
        }
        bytes += Core.Torch.HugePages.Collapse(_packedHead?.Data ?? LmHead);
        return bytes;
    }

    /// <summary>How the LM head computes its logits (the projections have their own, <see cref="SetBaseKernel"/> sets all).</summary>
    public Kernels.BaseKernel BaseKernel { get; private set; }

    /// <summary>Switches how every base projection and the LM head compute x·Wᵀ + b (between steps only).</summary>
    public void SetBaseKernel(Kernels.BaseKernel kernel)
    {
        BaseKernel = kernel;
        foreach (var p in Projections) p.BaseKernel = kernel;
    }

    /// <summary>
    /// Switches whether q/k/v and gate/up run their base products as one GEMM region each (<see cref="ProjectionGroup"/>,
    /// the default) or projection by projection (the reference); between steps only.
    /// </summary>
    public void SetFusedProjections(bool fused)
    {
        foreach (var l in Layers)
        {
            l.SelfAttn.Qkv.Fused = fused;
            l.Mlp.GateUp.Fused = fused;
        }
    }

    /// <summary>Switches how every layer's attention reads the cache (between steps only; SDPA is the reference).</summary>
    public void SetAttentionKernel(Kernels.AttentionKernel kernel)
    {
        foreach (var l in Layers) l.SelfAttn.Kernel = kernel;
    }

    /// <summary>Switches how every projection computes its LoRA term (between steps only).</summary>
    public void SetLoraKernel(LoraKernel kernel)
    {
        foreach (var p in Projections) p.Kernel = kernel;
    }

    /// <summary>A KV cache sized for this model in its compute dtype.</summary>
    public KvCache CreateCache(int rows, int maxLength)
    {
        var cache = new KvCache(Config, rows, maxLength, ComputeDType, Device);
        if (Options.HugePages && !Options.ForTraining && Device.type == TorchSharp.DeviceType.CPU)
            for (int l = 0; l < Config.NumHiddenLayers; l++)   // the decode attention streams each row's keys and values every step
            {
                Core.Torch.HugePages.Collapse(cache.Keys(l));
                Core.Torch.HugePages.Collapse(cache.Values(l));
            }
        return cache;
    }

    /// <summary>
    /// Runs one packed step: every chunk's tokens go through the decoder, their K/V are written into
    /// <paramref name="cache"/>, and the logits of each chunk's last token (of every token when the chunk asks for
    /// <see cref="SequenceChunk.AllLogits"/>) come back as float32 [rows, vocab] in the order given. The caller owns the result (call inside a dispose scope and inference mode); each layer runs in a
    /// dispose scope of its own.
    /// </summary>
    public Tensor Forward(IReadOnlyList<SequenceChunk> chunks, KvCache cache)
    {
        using var mode = inference_mode();   // the cache and slots are inference tensors; writes need the mode
        bool decode = Device.type == TorchSharp.DeviceType.CPU && Options.SingleThreadedTorchInDecode;
        foreach (var c in chunks)
        {
            if (c.Tokens.Length != 1) decode = false;
            if (c.CacheRow < 0 || c.CacheRow >= cache.Rows) throw new ArgumentOutOfRangeException(nameof(chunks), $"cache row {c.CacheRow} out of range");
            if (c.AdapterSlot >= 0 && !Adapters.IsInstalled(c.AdapterSlot))
                throw new ArgumentException($"adapter slot {c.AdapterSlot} holds no adapter");
        }
        // A decode step's heavy work is the project's own kernels: libtorch's small ops run on this thread alone.
        using var threads = decode ? LoraSqueeze.Core.Torch.TorchThreading.OneOpenMpThread() : default;
        var batch = StepBatch.Build(chunks, cache.MaxLength, Device, Adapters.SlotsOf);
        (batch.Cos, batch.Sin) = Rotary.Lookup(batch.Positions, batch.MaxPosition);          // [T, d] each
        var x = EmbedTokens.index_select(0, batch.TokenIds);                                 // [T, hidden]
        foreach (var layer in Layers)
        {
            // One scope per layer: its intermediates (projections, LoRA terms, attention scores) are freed as soon as the
            // layer is done, instead of every layer's living until the step ends. Only the hidden state crosses out.
            var input = x;
            using (var layerScope = NewDisposeScope())
            {
                x = layer.Forward(input, batch, cache.Keys(layer.Index), cache.Values(layer.Index)).MoveToOuterDisposeScope();
            }
            input.Dispose();                                                                 // the previous hidden state
        }
        var last = Norm.Forward(x.index_select(0, batch.OutputRows));                        // [R, hidden], caller order
        var logits = _packedHead is null
            ? Kernels.BaseLinear.Forward(last, LmHead, null, BaseKernel, KernelThreads)     // [R, vocab]
            : Kernels.BaseLinear.Forward(last, _packedHead, null, BaseKernel, KernelThreads, Int8Activations);
        return logits.to_type(ScalarType.Float32);
    }

    /// <summary>
    /// The training forward: logits [B, T, vocab] (float32) for every position of <paramref name="inputIds"/> [B, T]
    /// (int64, each row a sequence starting at position 0), causal attention, no KV cache and no adapter slots. Each
    /// projection's output goes through <paramref name="hook"/> when given, which is where trainable adapters attach.
    /// Autograd records through it: call it outside inference mode on a model loaded with
    /// <see cref="ModelLoadOptions.ForTraining"/>.
    /// </summary>
    public Tensor ForwardSequence(Tensor inputIds, ProjectionHook? hook)
    {
        long b = inputIds.shape[0], t = inputIds.shape[1];
        var positions = arange(t, dtype: ScalarType.Int64, device: Device);                    // [T]
        var (cos, sin) = Rotary.Lookup(positions, (int)t - 1);                                 // [T, d] each
        // The tables may have been built under inference mode by an earlier generation; a clone is a normal tensor.
        (cos, sin) = (cos.clone(), sin.clone());
        var x = EmbedTokens.index_select(0, inputIds.reshape(-1)).view(b, t, -1);             // [B·T, hidden] → [B, T, hidden]
        foreach (var layer in Layers) x = layer.ForwardSequence(x, cos, sin, hook);
        return nn.functional.linear(Norm.Forward(x), LmHead).to_type(ScalarType.Float32);     // [B, T, vocab]
    }

    private static ScalarType StoredDType(ModelConfig config) => config.TorchDtype switch
    {
        "float16" => ScalarType.Float16,
        "bfloat16" => ScalarType.BFloat16,
        _ => ScalarType.Float32,
    };

    public void Dispose()
    {
        EmbedTokens.Dispose();
        foreach (var l in Layers) l.Dispose();
        Norm.Dispose();
        _lmHead?.Dispose();
        _packedHead?.Dispose();
        Rotary.Dispose();
    }
}
