using LoraSqueeze.Model.Modules;
using LoraSqueeze.Model.Reference;
using LoraSqueeze.Testing;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Tests;

/// <summary>
/// Base weights stored as bfloat16 or int8 (<see cref="ModelLoadOptions.WeightDType"/>): a mixed batch of base and
/// adapter rows equals the float64 reference decoder run on the same rounded weights (the reference widens them, as it
/// widens rounded slots), prefill and decode; the step reads a half or a quarter of the bytes; bad settings are refused.
/// </summary>
public class PackedBaseWeightTests
{
    public static TheoryData<string, ScalarType> Variants => new()
    {
        { "llama", ScalarType.BFloat16 },
        { "llama", ScalarType.Int8 },
        { "qwen2", ScalarType.Int8 },      // q/k/v biases and a tied LM head (its own packed copy)
        { "qwen2", ScalarType.BFloat16 },
    };

    [Theory]
    [MemberData(nameof(Variants))]
    public void MixedBatchOnPackedWeightsMatchesTheReference(string type, ScalarType weightDType)
    {
        var spec = type == "qwen2" ? TinyModelSpec.Qwen2 : TinyModelSpec.Llama;
        using var model = TestModels.WriteAndLoad(spec, new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 2, WeightDType = weightDType }, "packed-" + type);
        Assert.Equal(weightDType, model.WeightDType);
        Assert.Equal(weightDType, model.Layers[0].Mlp.Projections.First().Base.DType);
        using var adapter = TinyModelFactory.RandomAdapter(model, "a", 4, 21);
        model.Adapters.Install(1, adapter);
        using var cache = model.CreateCache(3, 24);
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        int[][] prompts = [[3, 4, 5, 6, 7], [9, 8], [20, 21, 22]];
        int[] slots = [1, -1, 1];
        var expected = prompts.Select((p, i) => ReferenceDecoder.Logits(model, [.. p, 11, 12], slots[i])).ToArray();
        var logits = model.Forward(prompts.Select((p, i) => new SequenceChunk(i, 0, p, slots[i])).ToList(), cache);
        for (int i = 0; i < prompts.Length; i++)
            Assert.True(TestModels.RelativeError(logits[i], expected[i][prompts[i].Length - 1]) < 1e-4, $"prefill row {i}");
        for (int step = 0; step < 2; step++)
        {
            logits = model.Forward(prompts.Select((p, i) => new SequenceChunk(i, p.Length + step, [11 + step], slots[i])).ToList(), cache);
            for (int i = 0; i < prompts.Length; i++)
                Assert.True(TestModels.RelativeError(logits[i], expected[i][prompts[i].Length + step]) < 1e-4, $"decode {step} row {i}");
        }
    }

    [Fact]
    public void PackedWeightsAreAHalfAndAQuarterOfTheBytesAndCloseToFloat32()
    {
        using var f32 = TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 1 }, "bytes");
        using var bf16 = TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 1, WeightDType = ScalarType.BFloat16 }, "bytes");
        using var int8 = TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 1, WeightDType = ScalarType.Int8 }, "bytes");
        Assert.Equal(f32.StepWeightBytes / 2, bf16.StepWeightBytes);
        long rows = f32.Projections.Sum(p => p.OutFeatures) + f32.Config.VocabSize;   // one float32 scale per output row
        Assert.Equal(f32.StepWeightBytes / 4 + rows * 4, int8.StepWeightBytes);
        using var mode = inference_mode();
        using var scope = NewDisposeScope();
        int[] prompt = [5, 6, 7, 8, 9, 10];
        var reference = ReferenceDecoder.Logits(f32, prompt, -1);
        Assert.InRange(TestModels.RelativeError(ReferenceDecoder.Logits(int8, prompt, -1), reference), 1e-5, 5e-2);   // rounded, but close
        Assert.InRange(TestModels.RelativeError(ReferenceDecoder.Logits(bf16, prompt, -1), reference), 1e-5, 5e-2);
        Assert.Throws<InvalidOperationException>(() => int8.Layers[0].SelfAttn.QProj.Weight);   // no dense copy is kept
    }

    [Fact]
    public void SettingsThatCannotWorkAreRefusedBeforeLoading()
    {
        var ex = Assert.Throws<ArgumentException>(() => TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions { WeightDType = ScalarType.Float16 }, "bad-f16"));
        Assert.Contains("Float16", ex.Message);
        ex = Assert.Throws<ArgumentException>(() => TestModels.WriteAndLoad(TinyModelSpec.Llama, new ModelLoadOptions { WeightDType = ScalarType.Int8, ForTraining = true }, "bad-train"));
        Assert.Contains("train", ex.Message);
    }
}
