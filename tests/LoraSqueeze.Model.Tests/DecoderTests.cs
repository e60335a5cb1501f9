using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Modules;
using LoraSqueeze.Model.Reference;
using LoraSqueeze.Testing;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Tests;

/// <summary>The cached, packed decoder equals the plain reference maths (full recompute per sequence).</summary>
public class DecoderTests
{
    public static TheoryData<string> Specs => new() { "llama", "qwen2", "llama3-rope", "mha" };

    private static TinyModelSpec Spec(string name) => name switch
    {
        "qwen2" => TinyModelSpec.Qwen2,
        "llama3-rope" => TinyModelSpec.Llama with { RopeTheta = 500000, RopeScaling = new RopeScaling { RopeType = "llama3", Factor = 8, LowFreqFactor = 1, HighFreqFactor = 4, OriginalMaxPositionEmbeddings = 16 } },
        "mha" => TinyModelSpec.Llama with { KvHeads = 4 },
        _ => TinyModelSpec.Llama,
    };

    [Theory]
    [MemberData(nameof(Specs))]
    public void PrefillThenIncrementalDecodeEqualsFullForward(string name)
    {
        using var model = TestModels.WriteAndLoad(Spec(name), name: "dec-" + name);
        using var cache = model.CreateCache(2, 32);
        int[] tokens = [5, 17, 3, 88, 41, 9, 60, 12, 33, 1, 70];
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        var expected = ReferenceDecoder.Logits(model, tokens, -1);                   // [11, vocab]

        // Prefill 6 tokens in row 1, then decode the rest one by one.
        var logits = model.Forward([new SequenceChunk(1, 0, tokens[..6], -1)], cache);
        Assert.True(TestModels.RelativeError(logits[0], expected[5]) < 1e-4, $"prefill: {TestModels.RelativeError(logits[0], expected[5])}");
        for (int p = 6; p < tokens.Length; p++)
        {
            logits = model.Forward([new SequenceChunk(1, p, [tokens[p]], -1)], cache);
            double err = TestModels.RelativeError(logits[0], expected[p]);
            Assert.True(err < 1e-4, $"decode at {p}: relative error {err}");
        }
        // A prefill split in uneven chunks (chunked prefill) gives the same last logits.
        var a = model.Forward([new SequenceChunk(0, 0, tokens[..4], -1)], cache);
        var b = model.Forward([new SequenceChunk(0, 4, tokens[4..], -1)], cache);
        Assert.True(TestModels.RelativeError(a[0], expected[3]) < 1e-4);
        Assert.True(TestModels.RelativeError(b[0], expected[^1]) < 1e-4);
    }

    [Fact]
    public void ReferenceIsNotTriviallyEqual()
    {
        // Guard: different tokens give different logits, so the comparisons above can fail.
        using var model = TestModels.WriteAndLoad(TinyModelSpec.Llama, name: "guard");
        using var scope = NewDisposeScope();
        var x = ReferenceDecoder.Logits(model, [1, 2, 3], -1);
        var y = ReferenceDecoder.Logits(model, [1, 2, 4], -1);
        Assert.True(TestModels.RelativeError(x[2], y[2]) > 1e-2);
        Assert.True(TestModels.RelativeError(x[1], y[1]) < 1e-6);   // causal: position 1 cannot see position 2
    }
}
