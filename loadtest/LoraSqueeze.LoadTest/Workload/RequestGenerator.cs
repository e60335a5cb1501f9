namespace LoraSqueeze.LoadTest.Workload;

/// <summary>
/// Produces the deterministic request sequence of a <see cref="WorkloadSpec"/>: for a given seed the i-th request is the
/// same whatever the server, so the layouts of a comparison see the same load.
/// </summary>
public sealed class RequestGenerator
{
    private readonly WorkloadSpec _spec;
    private readonly ZipfSampler? _zipf;
    private readonly Random _random;
    private int _next;

    public RequestGenerator(WorkloadSpec spec)
    {
        spec.Validate();
        _spec = spec;
        _zipf = spec.AdapterIds.Count > 0 ? new ZipfSampler(spec.AdapterIds.Count, spec.ZipfAlpha) : null;
        _random = new Random(spec.Seed);
    }

    public PlannedRequest Next()
    {
        // Draw every random value for every request, whatever it is used for, so the sequence of prompts and lengths
        // does not depend on the adapter count or base share.
        double baseDraw = _random.NextDouble();
        double popularityDraw = _random.NextDouble();
        int popularity = _zipf?.FromUniform(popularityDraw) ?? 0;
        int promptLength = _spec.PromptTokens.Sample(_random);
        int maxTokens = _spec.OutputTokens.Sample(_random);
        var prompt = new int[promptLength];
        for (int i = 0; i < prompt.Length; i++) prompt[i] = _random.Next(4, _spec.VocabSize);
        string adapter = _zipf is null || baseDraw < _spec.BaseShare ? "" : _spec.AdapterIds[popularity];
        return new PlannedRequest(_next++, adapter, prompt, maxTokens, _spec.ExactOutputTokens ? maxTokens : 0);
    }
}
