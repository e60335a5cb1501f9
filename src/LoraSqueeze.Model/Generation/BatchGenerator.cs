using LoraSqueeze.Model.Cache;
using LoraSqueeze.Model.Modules;
using LoraSqueeze.Model.Sampling;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Generation;

/// <summary>
/// Continuous batching over one model (the server's engine thread drives it). <see cref="TryAdmit"/> adds a request to
/// the running batch (it takes a KV-cache row), <see cref="Step"/> runs one engine step: a prefill forward for
/// sequences still consuming their prompt (chunked to <see cref="BatchGeneratorOptions.MaxTokensPerStep"/>), and one
/// decode forward for the running ones, each sequence on its own adapter slot. Finished sequences leave the batch in the
/// same step and free their row. Everything runs on the calling thread in a dispose scope under inference mode; only
/// plain values cross the API.
/// </summary>
public sealed class BatchGenerator : IDisposable
{
    private readonly CausalLM _model;
    private readonly BatchGeneratorOptions _options;
    private readonly KvCache _cache;
    private readonly Stack<int> _freeRows;
    private readonly List<Sequence> _running = [];
    private readonly List<long> _cancelled = [];
    private readonly HashSet<int> _eos;

    public BatchGenerator(CausalLM model, BatchGeneratorOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxBatch, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxTokensPerStep, options.MaxBatch);
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxSequenceLength, 2);
        var c = model.Config;
        int? window = c.ModelType == "mistral" ? c.SlidingWindow : c.UseSlidingWindow == true ? c.SlidingWindow : null;
        if (window is int w && options.MaxSequenceLength > w)
            throw new ArgumentException($"MaxSequenceLength {options.MaxSequenceLength} exceeds the model's sliding_window {w}, which this runtime does not implement");
        _model = model;
        _options = options;
        _cache = model.CreateCache(options.MaxBatch, options.MaxSequenceLength);
        _freeRows = new Stack<int>(Enumerable.Range(0, options.MaxBatch).Reverse());
        _eos = [.. options.EosTokenIds ?? model.Config.EosTokenIds];
    }

    /// <summary>Sequences admitted and not finished.</summary>
    public int ActiveCount => _running.Count;

    /// <summary>Adapter slots referenced by admitted sequences (never evict these).</summary>
    public IReadOnlyCollection<int> SlotsInUse => _running.Where(s => s.Slot >= 0).Select(s => s.Slot).ToHashSet();

    /// <summary>Bytes of the preallocated KV cache.</summary>
    public long CacheBytes => _cache.Bytes;

    /// <summary>
    /// Admits a request into the running batch; false when the batch is full. Throws <see cref="ArgumentException"/>
    /// for a request that can never run (empty or over-long prompt, empty adapter slot, bad sampling values).
    /// </summary>
    public bool TryAdmit(GenerationRequest r)
    {
        r.Sampling.Validate();
        if (r.PromptTokens.Length == 0) throw new ArgumentException($"request {r.Id}: empty prompt");
        if (r.PromptTokens.Length >= _options.MaxSequenceLength)
            throw new ArgumentException($"request {r.Id}: prompt of {r.PromptTokens.Length} tokens leaves no room in MaxSequenceLength {_options.MaxSequenceLength}");
        var bad = r.PromptTokens.FirstOrDefault(t => t < 0 || t >= _model.Config.VocabSize, -1);
        if (r.PromptTokens.Any(t => t < 0 || t >= _model.Config.VocabSize))
            throw new ArgumentException($"request {r.Id}: token id {bad} outside the vocabulary (0..{_model.Config.VocabSize - 1})");
        if (r.AdapterSlot >= 0 && !_model.Adapters.IsInstalled(r.AdapterSlot))
            throw new ArgumentException($"request {r.Id}: adapter slot {r.AdapterSlot} holds no adapter");
        if (r.AdapterSlot < -1) throw new ArgumentException($"request {r.Id}: adapter slot {r.AdapterSlot} (use -1 for the base model)");
        if (_running.Any(s => s.Request.Id == r.Id)) throw new ArgumentException($"request {r.Id} is already running");
        if (_freeRows.Count == 0) return false;
        _running.Add(new Sequence(r, _freeRows.Pop()));
        return true;
    }

    /// <summary>Cancels a running request; its final event (token −1, <see cref="FinishReason.Cancelled"/>) comes with the next step.</summary>
    public void Cancel(long id)
    {
        int i = _running.FindIndex(s => s.Request.Id == id);
        if (i < 0) return;
        Release(_running[i]);
        _running.RemoveAt(i);
        _cancelled.Add(id);
    }

    /// <summary>One engine step. Returns the new tokens (and cancellations) of this step.</summary>
    public IReadOnlyList<TokenEvent> Step()
    {
        var events = _cancelled.Select(id => new TokenEvent(id, -1, float.NaN, FinishReason.Cancelled)).ToList();
        _cancelled.Clear();
        if (_running.Count == 0) return events;

        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        int budget = _options.MaxTokensPerStep;
        // Decode first (every running sequence advances by one token), prefill takes what budget is left.
        var decode = _running.Where(s => s.Prefilled == s.Request.PromptTokens.Length).ToList();
        budget -= decode.Count;
        var prefill = new List<(Sequence Seq, int Count)>();
        foreach (var s in _running.Where(s => s.Prefilled < s.Request.PromptTokens.Length))
        {
            if (budget <= 0) break;
            int n = Math.Min(budget, s.Request.PromptTokens.Length - s.Prefilled);
            prefill.Add((s, n));
            budget -= n;
        }

        if (prefill.Count > 0)
        {
            var chunks = prefill.Select(p => new SequenceChunk(p.Seq.Row, p.Seq.Prefilled,
                p.Seq.Request.PromptTokens.AsSpan(p.Seq.Prefilled, p.Count).ToArray(), p.Seq.Slot)).ToList();
            var done = prefill.Where(p => p.Seq.Prefilled + p.Count == p.Seq.Request.PromptTokens.Length).Select(p => p.Seq).ToList();
            var logits = _model.Forward(chunks, _cache);                           // [P, vocab]
            foreach (var p in prefill) p.Seq.Prefilled += p.Count;
            SampleInto(events, prefill.Select(p => p.Seq).ToList(), logits, done);
        }
        if (decode.Count > 0)
        {
            var chunks = decode.Select(s => new SequenceChunk(s.Row, s.Length - 1, [s.LastToken], s.Slot)).ToList();
            var logits = _model.Forward(chunks, _cache);                           // [D, vocab]
            SampleInto(events, decode, logits, decode);
        }
        return events;
    }

    /// <summary>Copies the logits rows to the host once, samples the sequences in <paramref name="sampled"/>.</summary>
    private void SampleInto(List<TokenEvent> events, List<Sequence> rowsOf, Tensor logits, List<Sequence> sampled)
    {
        if (sampled.Count == 0) return;
        int vocab = (int)logits.shape[1];
        var host = logits.cpu().data<float>().ToArray();                            // [rows·vocab]
        for (int i = 0; i < rowsOf.Count; i++)
        {
            var s = rowsOf[i];
            if (!sampled.Contains(s)) continue;
            var (token, logprob) = s.Sampler.Next(host.AsSpan(i * vocab, vocab));
            s.Generated.Add(token);
            var finish = FinishOf(s, token);
            events.Add(new TokenEvent(s.Request.Id, token, s.Request.Sampling.Logprobs ? logprob : float.NaN, finish));
            if (finish != FinishReason.None)
            {
                Release(s);
                _running.Remove(s);
            }
        }
    }

    private FinishReason FinishOf(Sequence s, int token)
    {
        if (_eos.Contains(token)) return FinishReason.Eos;
        if (s.Request.Sampling.StopTokenSequences is { } stops)
        {
            foreach (var stop in stops)
            {
                if (s.Generated.Count >= stop.Length && System.Runtime.InteropServices.CollectionsMarshal.AsSpan(s.Generated)[^stop.Length..].SequenceEqual(stop)) return FinishReason.Stop;
            }
        }
        if (s.Generated.Count >= s.Request.Sampling.MaxTokens) return FinishReason.Length;
        // The next decode writes the last token at position Length-1; the row must hold it.
        if (s.Length >= _options.MaxSequenceLength) return FinishReason.Length;
        return FinishReason.None;
    }

    private void Release(Sequence s) => _freeRows.Push(s.Row);

    public void Dispose() => _cache.Dispose();

    private sealed class Sequence(GenerationRequest request, int row)
    {
        public GenerationRequest Request { get; } = request;
        public int Row { get; } = row;
        public int Slot => Request.AdapterSlot;
        public int Prefilled { get; set; }
        public List<int> Generated { get; } = [];
        public TokenSampler Sampler { get; } = new(request.Sampling, request.PromptTokens);
        public int Length => Request.PromptTokens.Length + Generated.Count;
        public int LastToken => Generated[^1];
    }
}
