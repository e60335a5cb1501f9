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
    private readonly Dictionary<long, List<PositionLogprobs>> _promptLogprobs = [];
    private readonly int[] _endTokens;
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
        _endTokens = [.. options.EosTokenIds ?? c.EosTokenIds ?? []];
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
        var sampling = sequence.Request.Sampling;
        // min_tokens masks EOS and the one-token stops (vLLM's MinTokensLogitsProcessor).
        var ends = _endTokens.Concat(sampling.StopTokenSequences?.Where(s => s.Length == 1).Select(s => s[0]) ?? []);
        _samplers.Add(sequence.Id, new TokenSampler(sampling, sequence.Request.PromptTokens, ends));
        if (sampling.PromptLogprobs) _promptLogprobs.Add(sequence.Id, new List<PositionLogprobs>(sequence.Request.PromptTokens.Length));
    }

    public void Release(long requestId, FinishReason reason)
    {
        _samplers.Remove(requestId);
        _promptLogprobs.Remove(requestId);
    }

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
        foreach (var c in chunks)
        {
            bool allLogits = !c.IsDecode && _promptLogprobs.ContainsKey(c.Sequence.Id);
            packed.Add(new SequenceChunk(c.Sequence.Row, c.Start, c.Tokens(), c.Sequence.Slot, allLogits));
        }
        using var logits = _model.Forward(packed, _cache);                                  // [rows, vocab]: one per chunk, or its every token
        int vocab = (int)logits.shape[1];
        using var host = logits.cpu();
        var rows = host.data<float>().ToArray();                                             // [rows·vocab]
        int next = 0;
        for (int i = 0; i < chunks.Count; i++)
        {
            var c = chunks[i];
            if (packed[i].AllLogits) next = CollectPromptLogprobs(c, rows, next, vocab);
            int at = next++;
            if (!c.Samples) continue;
            var row = rows.AsSpan(at * vocab, vocab);
            // A NaN or ±Inf logit (an adapter whose weights overflow) has no distribution to sample from: the sequence is
            // failed (SampledToken.NonFinite) rather than streamed garbage. The sum is non-finite iff some logit is, or
            // the logits are so large that their sum overflows, which no sane model produces either.
            if (!float.IsFinite(System.Numerics.Tensors.TensorPrimitives.Sum<float>(row)))
            {
                _sampled.Add(SampledToken.NonFinite(c.Sequence.Id));
                continue;
            }
            var (token, logprob) = _samplers[c.Sequence.Id].Next(row);
            int k = c.Sequence.Request.Sampling.TopLogprobs;
            var top = k > 0 ? Logprobs.Top(row, k, Logprobs.LogSumExp(row)) : null;
            // The prompt's logprobs travel with the first token only (the prefill's sample), then the runner drops them.
            IReadOnlyList<PositionLogprobs>? prompt = null;
            if (!c.IsDecode && _promptLogprobs.Remove(c.Sequence.Id, out var collected)) prompt = collected;
            _sampled.Add(new SampledToken(c.Sequence.Id, token, logprob, top, prompt));
        }
    }

    /// <summary>
    /// A prompt chunk's rows but its last: row j (position Start+j) scores the prompt token at Start+j+1. The chunk's
    /// last row scores the first token of the next chunk, or is the sampling row of the last chunk (left to the
    /// caller, and scored here only when a later chunk follows). Returns the index of the chunk's last row.
    /// </summary>
    private int CollectPromptLogprobs(ScheduledChunk c, float[] rows, int first, int vocab)
    {
        var prompt = c.Sequence.Request.PromptTokens;
        var list = _promptLogprobs[c.Sequence.Id];
        int k = Math.Max(1, c.Sequence.Request.Sampling.TopLogprobs);
        int scored = c.Start + c.Count < prompt.Length ? c.Count : c.Count - 1;
        for (int j = 0; j < scored; j++)
        {
            var row = rows.AsSpan((first + j) * vocab, vocab);
            double lse = Logprobs.LogSumExp(row);
            list.Add(new PositionLogprobs(Logprobs.At(row, prompt[c.Start + j + 1], lse), Logprobs.Top(row, k, lse)));
        }
        return first + c.Count - 1;
    }

    /// <summary>
    /// A prefill of a short prompt on every cache row, then <paramref name="decodeSteps"/> decode steps over all rows
    /// and as many over row 0 alone, on the base model (admission clears a row, so nothing of it reaches a request). What the first requests would
    /// otherwise pay for happens here, before the server says it is ready: first-touch page faults of the KV cache and
    /// of the allocator's step buffers, libtorch's and MKL's lazy initialisation, the JIT's first compilation of the
    /// step's code (vLLM likewise runs dummy batches before it serves: <c>_dummy_run</c> in its gpu_model_runner.py).
    /// The steps are fitted into the cache's length; their tokens are never sampled or counted.
    /// </summary>
    public void WarmUp(int decodeSteps)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(decodeSteps);
        if (_samplers.Count > 0) throw new InvalidOperationException("the warm-up runs before the first request is admitted");
        int rows = _cache.Rows, vocab = _model.Config.VocabSize, maxLength = _cache.MaxLength;
        int prompt = Math.Clamp(maxLength - 2 * decodeSteps, 1, 16);
        int steps = Math.Min(decodeSteps, (maxLength - prompt) / 2);
        using var mode = inference_mode();
        int TokenAt(int row, int position) => (row * 31 + position * 7 + 1) % vocab;
        // The prompts in groups of at most 256 tokens (a prefill step's usual size), every row written.
        int perGroup = Math.Max(1, 256 / prompt);
        for (int first = 0; first < rows; first += perGroup)
        {
            using var scope = NewDisposeScope();
            var chunks = Enumerable.Range(first, Math.Min(perGroup, rows - first))
                .Select(r => new SequenceChunk(r, 0, Enumerable.Range(0, prompt).Select(j => TokenAt(r, j)).ToArray(), -1)).ToList();
            _model.Forward(chunks, _cache);
        }
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            _model.Forward(Enumerable.Range(0, rows).Select(r => new SequenceChunk(r, prompt + s, [TokenAt(r, prompt + s)], -1)).ToList(), _cache);
        }
        for (int s = 0; s < steps; s++)
        {
            using var scope = NewDisposeScope();
            _model.Forward([new SequenceChunk(0, prompt + steps + s, [TokenAt(0, prompt + steps + s)], -1)], _cache);
        }
    }

    public void InstallAdapter(IReadOnlyList<int> slots, LoraWeights weights) => _model.Adapters.Install(slots, weights);

    public void ClearAdapter(int slot) => _model.Adapters.Clear(slot);

    public void Dispose()
    {
        _cache.Dispose();
        if (_ownsModel) _model.Dispose();
    }
}
