using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Cache;
using LoraSqueeze.Model.Modules;
using LoraSqueeze.Model.Sampling;
using TorchSharp;
using static TorchSharp.torch;

namespace LoraSqueeze.Engine.Execution;

/// <summary>
/// The real <see cref="IModelRunner"/>: a <see cref="CausalLM"/> with adapter slots (uniform at the target rank, or
/// padded for comparisons), a preallocated KV cache with one row per batch slot, and a <see cref="TokenSampler"/> per
/// running sequence. A step copies each forward's logits to the host once and samples there. Created on the engine
/// thread, which then owns it (TorchSharp dispose scopes and inference mode are per thread).
/// </summary>
public sealed class ModelRunner : IModelRunner
{
    private readonly CausalLM _model;
    private readonly KvCache _cache;
    private readonly Dictionary<long, TokenSampler> _samplers = [];
    private readonly List<SampledToken> _sampled = [];
    private readonly bool _ownsModel;

    /// <summary>A runner over <paramref name="model"/> (disposed with the runner when <paramref name="ownsModel"/>); the cache is sized by <paramref name="options"/>.</summary>
    public ModelRunner(CausalLM model, SchedulerOptions options, bool ownsModel = true)
    {
        _ownsModel = ownsModel;
        options.Validate();
        var c = model.Config;
        int? window = c.ModelType == "mistral" ? c.SlidingWindow : c.UseSlidingWindow == true ? c.SlidingWindow : null;
        if (window is int w && options.MaxSequenceLength > w)
            throw new ArgumentException($"MaxSequenceLength {options.MaxSequenceLength} exceeds the model's sliding_window {w}, which this runtime does not implement");
        _model = model;
        _cache = model.CreateCache(options.MaxBatch, options.MaxSequenceLength);
    }

    /// <summary>
    /// Loads a Hugging Face model folder on the calling thread (the engine thread) and sizes its cache.
    /// <paramref name="torchThreads"/> &gt; 0 sets libtorch's intra-op threads for this thread: here, and not through
    /// <see cref="TorchRuntime.EnsureInitialized"/>, which is a no-op once torch has started and the count is per thread.
    /// </summary>
    public static ModelRunner Load(string modelDir, string device, int torchThreads, ModelLoadOptions load, SchedulerOptions options)
    {
        TorchRuntime.EnsureInitialized();
        if (torchThreads > 0) torch.set_num_threads(torchThreads);
        var model = CausalLM.Load(modelDir, TorchRuntime.ResolveDevice(device), load);
        try
        {
            return new ModelRunner(model, options);
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public CausalLM Model => _model;

    public int SlotCount => _model.Adapters.Count;

    public long SlotBytes => _model.Adapters.BytesPerSlot;

    public int ActiveCount => _samplers.Count;

    /// <summary>Bytes of the preallocated KV cache.</summary>
    public long CacheBytes => _cache.Bytes;

    public void Admit(SequenceState sequence)
    {
        if (sequence.Slot >= 0 && !_model.Adapters.IsInstalled(sequence.Slot))
            throw new ArgumentException($"request {sequence.Id}: adapter slot {sequence.Slot} holds no adapter");
        _cache.ClearRow(sequence.Row);
        _samplers.Add(sequence.Id, new TokenSampler(sequence.Request.Sampling, sequence.Request.PromptTokens));
    }

    public void Release(long requestId, FinishReason reason) => _samplers.Remove(requestId);

    public IReadOnlyList<SampledToken> Execute(ScheduledStep step)
    {
        _sampled.Clear();
        using var mode = inference_mode();
        // The step's own scope holds only what crosses layers (the packed batch, the logits); CausalLM.Forward frees
        // each layer's intermediates in a scope of its own.
        using var scope = NewDisposeScope();
        if (step.Prefill.Count > 0) Run(step.Prefill);
        if (step.Decode.Count > 0) Run(step.Decode);
        return _sampled.ToArray();
    }

    /// <summary>One packed forward over <paramref name="chunks"/>; samples the rows of chunks that sample.</summary>
    private void Run(List<ScheduledChunk> chunks)
    {
        var packed = new List<SequenceChunk>(chunks.Count);
        foreach (var c in chunks) packed.Add(new SequenceChunk(c.Sequence.Row, c.Start, c.Tokens(), c.Sequence.Slot));
        using var logits = _model.Forward(packed, _cache);                                  // [chunks, vocab]
        int vocab = (int)logits.shape[1];
        using var host = logits.cpu();
        var rows = host.data<float>().ToArray();                                             // [chunks·vocab]
        for (int i = 0; i < chunks.Count; i++)
        {
            var c = chunks[i];
            if (!c.Samples) continue;
            var row = rows.AsSpan(i * vocab, vocab);
            // A NaN or ±Inf logit (an adapter whose weights overflow) has no distribution to sample from: the sequence is
            // failed (SampledToken.NonFinite) rather than streamed garbage. The sum is non-finite iff some logit is, or
            // the logits are so large that their sum overflows, which no sane model produces either.
            if (!float.IsFinite(System.Numerics.Tensors.TensorPrimitives.Sum<float>(row)))
            {
                _sampled.Add(SampledToken.NonFinite(c.Sequence.Id));
                continue;
            }
            var (token, logprob) = _samplers[c.Sequence.Id].Next(row);
            _sampled.Add(new SampledToken(c.Sequence.Id, token, logprob));
        }
    }

    public void InstallAdapter(int slot, LoraWeights weights) => _model.Adapters.Install(slot, weights);

    public void ClearAdapter(int slot) => _model.Adapters.Clear(slot);

    public void Dispose()
    {
        _cache.Dispose();
        if (_ownsModel) _model.Dispose();
    }
}
