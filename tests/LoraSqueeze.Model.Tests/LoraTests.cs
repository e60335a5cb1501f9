using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Model.Modules;
using LoraSqueeze.Model.Reference;
using LoraSqueeze.Testing;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Tests;

/// <summary>Batched multi-adapter LoRA equals per-sequence merged weights (the reference path).</summary>
public class LoraTests
{
    public static TheoryData<LoraLayout, LoraKernel, string, ScalarType> Variants => new()
    {
        { LoraLayout.Uniform, LoraKernel.Bgmv, "llama", ScalarType.Float32 },
        { LoraLayout.Uniform, LoraKernel.Bgmv, "llama", ScalarType.BFloat16 },
        { LoraLayout.Uniform, LoraKernel.Bgmv, "llama", ScalarType.Int8 },
        { LoraLayout.Uniform, LoraKernel.Segmented, "llama", ScalarType.Float32 },
        { LoraLayout.Uniform, LoraKernel.Segmented, "llama", ScalarType.BFloat16 },
        { LoraLayout.Uniform, LoraKernel.Segmented, "llama", ScalarType.Int8 },
        { LoraLayout.Uniform, LoraKernel.Gathered, "llama", ScalarType.Float32 },
        { LoraLayout.Uniform, LoraKernel.Gathered, "llama", ScalarType.Int8 },
        { LoraLayout.Padded, LoraKernel.Segmented, "qwen2", ScalarType.Float32 },
        { LoraLayout.Padded, LoraKernel.Bgmv, "qwen2", ScalarType.Float32 },
        { LoraLayout.Padded, LoraKernel.Bgmv, "qwen2", ScalarType.BFloat16 },
        { LoraLayout.Padded, LoraKernel.Bgmv, "qwen2", ScalarType.Int8 },
        { LoraLayout.Uniform, LoraKernel.Segmented, "qwen2", ScalarType.Float32 },
        { LoraLayout.Uniform, LoraKernel.Bgmv, "qwen2", ScalarType.Float32 },
    };

    /// <summary>
    /// With bfloat16 or int8 slots the reference merges the same rounded factors (<see cref="LoraLinear.MergedWeight"/>
    /// widens and dequantises them), so every kernel must still agree with it to 1e-4: the rounding happens once, at
    /// install, not per step.
    /// </summary>
    [Theory]
    [MemberData(nameof(Variants))]
    public void MixedBatchMatchesMergedReference(LoraLayout layout, LoraKernel kernel, string type, ScalarType slotDType)
    {
        var spec = type == "qwen2" ? TinyModelSpec.Qwen2 : TinyModelSpec.Llama;
        using var model = TestModels.WriteAndLoad(spec, new ModelLoadOptions
        {
            AdapterRank = 4, AdapterSlots = 3, LoraLayout = layout, PaddedMaxRank = 8, LoraKernel = kernel, SlotDType = slotDType,
        }, "lora-" + type);
        Assert.Equal(slotDType, model.Layers[0].SelfAttn.QProj.A!.dtype);
        using var a0 = TinyModelFactory.RandomAdapter(model, "a0", 4, 10);
        using var a2 = TinyModelFactory.RandomAdapter(model, "a2", 4, 12, ["q_proj", "v_proj", "down_proj"]);
        model.Adapters.Install(0, a0);
        model.Adapters.Install(2, a2);
        using var cache = model.CreateCache(6, 24);
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        // Six sequences of different lengths: two on slot 0, two base-only, two on slot 2, interleaved on purpose.
        int[][] prompts = [[3, 4, 5, 6, 7], [9, 8], [20, 21, 22, 23, 24, 25, 26], [1], [40, 41, 42], [50, 51, 52, 53]];
        int[] slots = [0, -1, 2, 0, -1, 2];
        var expected = prompts.Select((p, i) => ReferenceDecoder.Logits(model, [.. p, 11, 12], slots[i])).ToArray();

        var logits = model.Forward(prompts.Select((p, i) => new SequenceChunk(i, 0, p, slots[i])).ToList(), cache);
        for (int i = 0; i < prompts.Length; i++)
            AssertClose(logits[i], expected[i][prompts[i].Length - 1], $"prefill row {i}");
        // Two decode steps for everyone (different positions per row), then a step with only some rows.
        for (int step = 0; step < 2; step++)
        {
            var chunks = prompts.Select((p, i) => new SequenceChunk(i, p.Length + step, [11 + step], slots[i])).ToList();
            logits = model.Forward(chunks, cache);
            for (int i = 0; i < prompts.Length; i++)
                AssertClose(logits[i], expected[i][prompts[i].Length + step], $"decode {step} row {i}");
        }
        // The adapters really change the output (otherwise the comparison proves nothing).
        var baseLogits = ReferenceDecoder.Logits(model, [.. prompts[0], 11, 12], -1);
        Assert.True(TestModels.RelativeError(baseLogits[^1], expected[0][^1]) > 1e-2);
    }

    public static TheoryData<LoraKernel, ScalarType> MultiSlotVariants => new()
    {
        { LoraKernel.Bgmv, ScalarType.Float32 },
        { LoraKernel.Bgmv, ScalarType.BFloat16 },
        { LoraKernel.Bgmv, ScalarType.Int8 },
        { LoraKernel.Segmented, ScalarType.Float32 },
        { LoraKernel.Segmented, ScalarType.Int8 },
        { LoraKernel.Gathered, ScalarType.Float32 },
        { LoraKernel.Gathered, ScalarType.BFloat16 },
    };

    /// <summary>
    /// Adapters of rank k·r on k slots (the energy floor) next to one-slot adapters and base rows, in one batch: every
    /// kernel equals the merged-weight reference (W + Σ over the group's slots of Bₛ·Aₛ), in prefill (a segment longer
    /// than the decode kernel's) and decode; with float32 slots the group holds the rank-k·r adapter exactly.
    /// </summary>
    [Theory]
    [MemberData(nameof(MultiSlotVariants))]
    public void MultiSlotAdaptersMatchTheMergedReferenceInMixedBatches(LoraKernel kernel, ScalarType slotDType)
    {
        using var model = TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions
        {
            AdapterRank = 4, AdapterSlots = 6, LoraKernel = kernel, SlotDType = slotDType,
        }, "multislot");
        using var one = TinyModelFactory.RandomAdapter(model, "one", 4, 21);
        using var two = TinyModelFactory.RandomAdapter(model, "two", 8, 22);
        using var three = TinyModelFactory.RandomAdapter(model, "three", 12, 23, ["q_proj", "k_proj", "down_proj"]);
        model.Adapters.Install(0, one);
        model.Adapters.Install([3, 1], two);          // a group in slots that are neither adjacent nor ordered; head 3
        model.Adapters.Install([2, 4, 5], three);
        Assert.Equal([3, 1], model.Adapters.SlotsOf(3));
        Assert.False(model.Adapters.IsInstalled(1));  // not a head: no row may name it
        Assert.Equal("two", model.Adapters.NameOf(1));
        if (slotDType == ScalarType.Float32)
        {
            foreach (var p in model.Projections)
            {
                var m = two.Find(p.Path)!;
                using var merged = p.MergedWeight(model.Adapters.SlotsOf(3));
                using var expected = p.Weight + m.B.matmul(m.A);
                Assert.True(merged.allclose(expected, rtol: 1e-5, atol: 1e-6), p.Path);
            }
        }
        using var cache = model.CreateCache(6, 24);
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        int[][] prompts = [[3, 4, 5, 6, 7, 8], [9, 8], [20, 21, 22, 23, 24, 25, 26], [1], [40, 41, 42], [50, 51, 52, 53, 54]];
        int[] slots = [3, -1, 2, 0, 3, 2];
        var expectedLogits = prompts.Select((p, i) => ReferenceDecoder.Logits(model, [.. p, 11, 12], slots[i])).ToArray();
        var logits = model.Forward(prompts.Select((p, i) => new SequenceChunk(i, 0, p, slots[i])).ToList(), cache);
        for (int i = 0; i < prompts.Length; i++)
            AssertClose(logits[i], expectedLogits[i][prompts[i].Length - 1], $"prefill row {i}");
        for (int step = 0; step < 2; step++)
        {
            var chunks = prompts.Select((p, i) => new SequenceChunk(i, p.Length + step, [11 + step], slots[i])).ToList();
            logits = model.Forward(chunks, cache);
            for (int i = 0; i < prompts.Length; i++)
                AssertClose(logits[i], expectedLogits[i][prompts[i].Length + step], $"decode {step} row {i}");
        }
        // Every slot of a group counts: the head's block alone gives other logits.
        var headOnly = model.Layers[0].SelfAttn.QProj.MergedWeight([2]);
        var group = model.Layers[0].SelfAttn.QProj.MergedWeight(model.Adapters.SlotsOf(2));
        Assert.True(TestModels.RelativeError(headOnly, group) > 1e-2);
        // A row may not name a slot that is not a head.
        Assert.Throws<ArgumentException>(() => model.Forward([new SequenceChunk(0, 0, [5], 4)], cache));
    }

    [Fact]
    public void InstallingIntoAGroupsSlotDissolvesTheGroupAndClearingTheHeadClearsItAll()
    {
        using var model = TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 4 }, "groups");
        using var two = TinyModelFactory.RandomAdapter(model, "two", 8, 1);
        using var one = TinyModelFactory.RandomAdapter(model, "one", 4, 2);
        var q = model.Layers[0].SelfAttn.QProj;
        model.Adapters.Install([0, 1], two);
        model.Adapters.Install(1, one);               // evicting "two": its other slot is no longer part of any group
        Assert.False(model.Adapters.IsInstalled(0));
        Assert.Null(model.Adapters.NameOf(0));
        Assert.Equal([1], model.Adapters.SlotsOf(1));
        model.Adapters.Install([2, 3], two);
        model.Adapters.Clear(2);
        Assert.False(model.Adapters.IsInstalled(2));
        Assert.Equal(0, q.A![3].abs().sum().item<float>());
        Assert.Equal(0, q.B![3].abs().sum().item<float>());
        Assert.True(model.Adapters.IsInstalled(1));
        // Rank k·r exactly: a rank-8 adapter does not fit three slots of rank 4, nor one.
        var ex = Assert.Throws<ArgumentException>(() => model.Adapters.Install([0, 2, 3], two));
        Assert.Contains("3 slots of rank 4 hold rank 12", ex.Message);
        Assert.Throws<ArgumentException>(() => model.Adapters.Install([2, 2], two));
    }

    [Fact]
    public void InstallAndClearTouchOneSlotOnlyWithoutReallocation()
    {
        using var model = TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 3 }, "slots");
        var q = model.Layers[1].SelfAttn.QProj;
        using var a = TinyModelFactory.RandomAdapter(model, "a", 4, 1);
        using var b = TinyModelFactory.RandomAdapter(model, "b", 4, 2);
        model.Adapters.Install(0, a);
        model.Adapters.Install(1, b);
        var aStack = q.A!;
        var storage = aStack.storage<float>().data_ptr();
        using var slot0 = aStack[0].clone();
        model.Adapters.Install(1, a);          // replace slot 1
        model.Adapters.Clear(1);
        Assert.Same(aStack, q.A);
        Assert.Equal(storage, q.A!.storage<float>().data_ptr());
        Assert.True(q.A[0].allclose(slot0, rtol: 0, atol: 0));
        Assert.Equal(0, q.A[1].abs().sum().item<float>());
        Assert.Equal(0, q.B![1].abs().sum().item<float>());
        Assert.True(model.Adapters.IsInstalled(0));
        Assert.False(model.Adapters.IsInstalled(1));
        Assert.Equal("a", model.Adapters.NameOf(0));
        var expectedA = a.Find("model.layers.1.self_attn.q_proj")!.A;
        Assert.True(q.A[0].allclose(expectedA, rtol: 0, atol: 0));
    }

    [Fact]
    public void AdaptersThatDoNotFitAreRefusedWithoutTouchingTheSlot()
    {
        using var model = TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 2 }, "refuse");
        using var good = TinyModelFactory.RandomAdapter(model, "good", 4, 1);
        model.Adapters.Install(0, good);
        using var before = model.Layers[0].SelfAttn.QProj.A![0].clone();

        using var rank8 = TinyModelFactory.RandomAdapter(model, "rank8", 8, 2);
        var ex = Assert.Throws<ArgumentException>(() => model.Adapters.Install(0, rank8));
        Assert.Contains("rank 8", ex.Message);
        Assert.Contains("squeeze it to 4", ex.Message);

        using var wrongModule = new LoraWeights("odd", [new LoraModule("model.layers.9.self_attn.q_proj", zeros(4, 32), zeros(32, 4))]);
        ex = Assert.Throws<ArgumentException>(() => model.Adapters.Install(0, wrongModule));
        Assert.Contains("model.layers.9.self_attn.q_proj", ex.Message);

        using var wrongShape = new LoraWeights("shape", [new LoraModule("model.layers.0.mlp.up_proj", zeros(4, 48), zeros(64, 4))]);
        ex = Assert.Throws<ArgumentException>(() => model.Adapters.Install(0, wrongShape));
        Assert.Contains("expected A [r, 32] and B [64, r]", ex.Message);

        Assert.True(model.Adapters.IsInstalled(0));
        Assert.True(model.Layers[0].SelfAttn.QProj.A![0].allclose(before, rtol: 0, atol: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => model.Adapters.Install(2, good));
    }

    [Fact]
    public void PaddedLayoutAcceptsSmallerRanksAndRefusesLarger()
    {
        using var model = TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions
        {
            AdapterRank = 4, AdapterSlots = 2, LoraLayout = LoraLayout.Padded, PaddedMaxRank = 8,
        }, "padded");
        Assert.Equal(8, model.Adapters.Rank);
        using var r2 = TinyModelFactory.RandomAdapter(model, "r2", 2, 1);
        model.Adapters.Install(1, r2);
        Assert.Equal(8, model.Layers[0].Mlp.UpProj.A!.shape[1]);
        Assert.Equal(0, model.Layers[0].Mlp.UpProj.A![1].narrow(0, 2, 6).abs().sum().item<float>());
        using var r16 = TinyModelFactory.RandomAdapter(model, "r16", 16, 1);
        Assert.Throws<ArgumentException>(() => model.Adapters.Install(0, r16));
    }

    private static void AssertClose(Tensor actual, Tensor expected, string what)
    {
        double err = TestModels.RelativeError(actual, expected);
        Assert.True(err < 1e-4, $"{what}: relative error {err}");
    }
}
