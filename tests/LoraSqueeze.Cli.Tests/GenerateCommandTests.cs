using System.Text.Json;
using LoraSqueeze.Cli.Commands;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Reference;
using LoraSqueeze.Model.Sampling;
using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Testing;
using LoraSqueeze.Training.Tokenization;
using static TorchSharp.torch;

namespace LoraSqueeze.Cli.Tests;

/// <summary>
/// `lorasqueeze generate` end to end on a tiny model written by the project (random weights, a BPE tokenizer trained
/// here), checked against the plain reference decoder.
/// </summary>
public sealed class GenerateCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gen-").FullName;
    private readonly string _model;
    private readonly string _adapter;

    public GenerateCommandTests()
    {
        TorchRuntime.EnsureInitialized();
        _model = Path.Combine(_dir, "model");
        var corpus = string.Join("\n", Enumerable.Range(0, 200).Select(i => $"The quick brown fox {i} jumps over the lazy dog number {i * 7}."));
        var trained = BpeTrainer.Train([corpus], new BpeTrainerOptions { VocabSize = 320, MinFrequency = 1 });
        trained.Save(_model);
        var tokenizer = TokenizerLoader.FromDirectory(_model);
        TinyModelFactory.Write(_model, TinyModelSpec.Llama with { VocabSize = tokenizer.VocabSize, EosTokenId = tokenizer.EosTokenIds[0], Seed = 5 });

        // A rank-4 adapter in PEFT format; generate squeezes it to rank 8 (zero padding: exact).
        _adapter = Path.Combine(_dir, "adapter");
        using var model = CausalLM.Load(_model, CPU, new ModelLoadOptions { AdapterSlots = 0 });
        using var weights = TinyModelFactory.RandomAdapter(model, "style", rank: 4, seed: 11);
        PeftLoraWriter.Write(weights, _adapter);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<int> ReferenceGreedy(CausalLM model, int[] prompt, int slot, int steps, IReadOnlyList<int> eos)
    {
        var tokens = prompt.ToList();
        var generated = new List<int>();
        for (int i = 0; i < steps; i++)
        {
            using var scope = NewDisposeScope();
            int next = (int)ReferenceDecoder.Logits(model, [.. tokens], slot)[-1].argmax().item<long>();
            generated.Add(next);
            tokens.Add(next);
            if (eos.Contains(next)) break;
        }
        return generated;
    }

    [Fact]
    public void GreedyBaseAndAdapterMatchTheReferenceDecoder()
    {
        const string prompt = "The quick brown fox";
        var baseRun = GenerateCommand.Run(_model, null, prompt, SamplingParams.Greedy(8) with { Logprobs = true }, [], 8, null, "cpu");
        var adapterRun = GenerateCommand.Run(_model, _adapter, prompt, SamplingParams.Greedy(8) with { Logprobs = true }, [], 8, null, "cpu");

        var tokenizer = TokenizerLoader.FromDirectory(_model);
        var ids = tokenizer.Encode(prompt);
        using var model = CausalLM.Load(_model, CPU, new ModelLoadOptions { AdapterRank = 8, AdapterSlots = 1 });
        var (squeezed, report) = AdapterSqueezer.LoadAndSqueeze(_adapter, 8);
        using (squeezed) model.Adapters.Install(0, squeezed);
        Assert.Equal(1.0, report.MinRetainedEnergy, 6); // rank 4 → 8 keeps everything

        Assert.Equal(ReferenceGreedy(model, ids, -1, 8, tokenizer.EosTokenIds), baseRun.TokenIds);
        Assert.Equal(ReferenceGreedy(model, ids, 0, 8, tokenizer.EosTokenIds), adapterRun.TokenIds);
        Assert.NotEqual(baseRun.TokenIds, adapterRun.TokenIds);
        Assert.Equal(ids.Length, baseRun.PromptTokens);
        Assert.All(adapterRun.Logprobs, lp => Assert.True(lp <= 0 && float.IsFinite(lp)));
        Assert.Equal("Lora", adapterRun.Adapter!.SourceKind);
        Assert.Contains(baseRun.FinishReason, new[] { "length", "eos" });
    }

    [Fact]
    public void SameSeedSameOutputAndStopSequencesCutTheText()
    {
        var sampling = new SamplingParams(Temperature: 1.0f, TopP: 0.95f, Seed: 42, MaxTokens: 12, Logprobs: true);
        var a = GenerateCommand.Run(_model, _adapter, "lazy dog", sampling, [], 8, null, "cpu");
        var b = GenerateCommand.Run(_model, _adapter, "lazy dog", sampling, [], 8, null, "cpu");
        Assert.Equal(a.TokenIds, b.TokenIds);
        Assert.Equal(a.Logprobs, b.Logprobs);

        // Stop on the text of a later generated token that does not occur earlier in the output: generation ends
        // there and the text is cut before it. The seed fixes the output, so the choice is deterministic.
        var tokenizer = TokenizerLoader.FromDirectory(_model);
        string? stopText = null;
        int stopIndex = -1;
        for (int j = 1; j < a.TokenIds.Length && stopText is null; j++)
        {
            var piece = tokenizer.Decode(a.TokenIds.AsSpan(j, 1)).Trim();
            var before = tokenizer.Decode(a.TokenIds.AsSpan(0, j));
            if (piece.Length > 0 && !before.Contains(piece, StringComparison.Ordinal)) (stopText, stopIndex) = (piece, j);
        }
        Assert.True(stopText is not null, "no usable stop string in the seeded output");
        var stopped = GenerateCommand.Run(_model, _adapter, "lazy dog", sampling, [stopText], 8, null, "cpu");
        Assert.Equal("stop", stopped.FinishReason);
        Assert.DoesNotContain(stopText, stopped.Text);
        Assert.Equal(a.TokenIds[..(stopIndex + 1)], stopped.TokenIds);
        Assert.StartsWith(stopped.Text, tokenizer.Decode(a.TokenIds));
    }

    [Fact]
    public void CliPrintsJsonAndRefusesBadInput()
    {
        var (code, stdout, stderr) = CliProcess.Run("generate", "--model", _model, "--adapter", _adapter, "--prompt", "The quick", "--max-tokens", "5", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(doc.RootElement.GetProperty("tokenIds").GetArrayLength(), doc.RootElement.GetProperty("logprobs").GetArrayLength());
        Assert.Equal(16, doc.RootElement.GetProperty("adapter").GetProperty("targetRank").GetInt32());
        Assert.True(doc.RootElement.TryGetProperty("finishReason", out _));

        var (badCode, _, badErr) = CliProcess.Run("generate", "--model", Path.Combine(_dir, "missing"), "--prompt", "x");
        Assert.NotEqual(0, badCode);
        Assert.Contains("error:", badErr);
        Assert.Contains("missing", badErr);
    }
}
