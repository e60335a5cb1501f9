using LoraSqueeze.Model.Kernels;
using LoraSqueeze.Model.Modules;
using LoraSqueeze.Model.Reference;
using LoraSqueeze.Testing;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Tests;

/// <summary>
/// The in-place decode attention (<see cref="AttentionKernel.InPlace"/>) against SDPA over the gathered cache (the
/// reference) and the float64 reference decoder: GQA and MHA, head dims with and without a SIMD tail (and with the weighted sum's 32-float blocks), sequences of
/// different lengths in cache rows out of order, adapters mixed in.
/// </summary>
public class DecodeAttentionTests
{
    public static TheoryData<string> Specs => new() { "gqa", "mha", "odd-head-dim", "wide-head", "qwen2" };

    private static TinyModelSpec Spec(string name) => name switch
    {
        "mha" => TinyModelSpec.Llama with { KvHeads = 4 },
        "odd-head-dim" => TinyModelSpec.Llama with { HiddenSize = 36, Heads = 3, KvHeads = 1 },   // d = 12: one vector and a tail of 4
        // d = 44: the weighted sum's 32-float block, one 8-float vector and a tail of 4; groups of 3 query heads per KV head.
        "wide-head" => TinyModelSpec.Llama with { HiddenSize = 132, Heads = 3, KvHeads = 1 },
        "qwen2" => TinyModelSpec.Qwen2,
        _ => TinyModelSpec.Llama,
    };

    [Theory]
    [MemberData(nameof(Specs))]
    public void InPlaceDecodeEqualsSdpaAndTheReference(string name)
    {
        using var model = TestModels.WriteAndLoad(Spec(name), new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 1 }, "attn-" + name);
        using var adapter = TinyModelFactory.RandomAdapter(model, "a", 4, 5);
        model.Adapters.Install(0, adapter);
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        int[][] prompts = [[.. Enumerable.Range(3, 19)], [9, 8], [20, 21, 22, 23]];   // 19 keys: two softmax vectors and a tail
        int[] rows = [2, 0, 3];          // cache rows out of order, row 1 unused
        int[] slots = [0, -1, 0];
        var expected = prompts.Select((p, i) => ReferenceDecoder.Logits(model, [.. p, 11, 12, 13], slots[i])).ToArray();
        using var inPlace = model.CreateCache(4, 32);
        using var sdpa = model.CreateCache(4, 32);
        model.Forward(prompts.Select((p, i) => new SequenceChunk(rows[i], 0, p, slots[i])).ToList(), inPlace);
        model.Forward(prompts.Select((p, i) => new SequenceChunk(rows[i], 0, p, slots[i])).ToList(), sdpa);
        for (int step = 0; step < 3; step++)
        {
            var chunks = prompts.Select((p, i) => new SequenceChunk(rows[i], p.Length + step, [11 + step], slots[i])).ToList();
            model.SetAttentionKernel(AttentionKernel.Sdpa);
            var b = model.Forward(chunks, sdpa);
            model.SetAttentionKernel(AttentionKernel.InPlace);
            var a = model.Forward(chunks, inPlace);
            for (int i = 0; i < prompts.Length; i++)
            {
                Assert.True(TestModels.RelativeError(a[i], b[i]) < 1e-5, $"step {step} row {i}: in place vs SDPA {TestModels.RelativeError(a[i], b[i])}");
                Assert.True(TestModels.RelativeError(a[i], expected[i][prompts[i].Length + step]) < 1e-4, $"step {step} row {i} vs reference");
            }
        }
    }
}
