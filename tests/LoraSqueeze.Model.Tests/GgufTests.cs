using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model.Gguf;
using LoraSqueeze.Testing;
using static TorchSharp.torch;

namespace LoraSqueeze.Model.Tests;

/// <summary>The GGUF exporter's parts: llama.cpp's q/k permutation, Q8_0 blocks, refusals by name, the file layout.</summary>
public sealed class GgufTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gguf-").FullName;

    public GgufTests() => TorchRuntime.EnsureInitialized();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void PermuteInterleavesEachHeadsTwoHalves()
    {
        // 2 heads of dim 4: HF rows per head [a0 a1 | b0 b1] → llama.cpp [a0 b0 a1 b1]
        using var w = arange(8, dtype: ScalarType.Float32).reshape(8, 1);
        using var p = GgufLlamaNames.Permute(w, heads: 2);
        Assert.Equal([0f, 2f, 1f, 3f, 4f, 6f, 5f, 7f], p.reshape(-1).data<float>().ToArray());
    }

    [Fact]
    public void Q8_0RoundsHalfAwayFromZeroAndScalesByTheBlockMaximum()
    {
        var row = new float[32];
        row[0] = 127f;      // d = 1
        row[1] = 2.5f;      // → 3 (away from zero; to-even would give 2)
        row[2] = -2.5f;     // → −3
        row[3] = -127f;
        var bytes = new byte[GgufTensorTypes.Q8BlockBytes];
        GgufQuantizer.QuantizeQ8_0(row, bytes);
        Assert.Equal(1f, (float)BitConverter.UInt16BitsToHalf(BitConverter.ToUInt16(bytes, 0)));
        Assert.Equal([127, 3, -3, -127], bytes.Skip(2).Take(4).Select(b => (int)(sbyte)b));
        var back = new float[32];
        GgufQuantizer.DequantizeQ8_0(bytes, back);
        Assert.Equal(3f, back[1]);
    }

    [Fact]
    public void LoraExportRefusesAModuleLlamaCppHasNoTensorFor()
    {
        var modelDir = Path.Combine(_dir, "m");
        var config = TinyModelFactory.Write(modelDir, TinyModelSpec.Llama);
        var weights = new LoraWeights("with-head", [new LoraModule("lm_head", randn(4, config.HiddenSize), randn(config.VocabSize, 4))]);
        using (weights)
        {
            var ex = Assert.Throws<AdapterFormatException>(() => GgufLoraExporter.Export(weights, config, Path.Combine(_dir, "a.gguf")));
            Assert.Contains("lm_head", ex.Message);
        }
        Assert.False(File.Exists(Path.Combine(_dir, "a.gguf")));
    }

    [Fact]
    public void LoraExportKeepsTheScaleOfModulesOfSmallerRank()
    {
        // llama.cpp scales a pair by alpha / rank(B); alpha = the largest rank, so a rank-2 module's B is scaled by 2/4.
        var modelDir = Path.Combine(_dir, "m");
        var config = TinyModelFactory.Write(modelDir, TinyModelSpec.Llama);
        int h = config.HiddenSize;
        using var weights = new LoraWeights("mixed", [
            new LoraModule("model.layers.0.self_attn.v_proj", ones(4, h), ones(config.NumKvHeads * config.HeadDim, 4)),
            new LoraModule("model.layers.0.mlp.up_proj", ones(2, h), ones(config.IntermediateSize, 2)),
        ]);
        var path = Path.Combine(_dir, "mixed.gguf");
        GgufLoraExporter.Export(weights, config, path);
        var file = new GgufReader(path);
        Assert.Equal(4f, file.Metadata["adapter.lora.alpha"]);
        Assert.All(file.ReadF32("blk.0.attn_v.weight.lora_b"), v => Assert.Equal(1f, v));
        Assert.All(file.ReadF32("blk.0.ffn_up.weight.lora_b"), v => Assert.Equal(0.5f, v));
        Assert.All(file.Tensors, t => Assert.Equal(0, t.Offset % file.Alignment));
    }

    [Fact]
    public void Q8_0RefusesARowLengthThatIsNotAMultipleOf32()
    {
        var modelDir = Path.Combine(_dir, "odd");
        TinyModelFactory.Write(modelDir, TinyModelSpec.Llama with { HiddenSize = 40, Heads = 4, KvHeads = 2 });
        File.Copy(Path.Combine(RepositoryFolder.Root, "models", "demo", "model", "tokenizer.json"), Path.Combine(modelDir, "tokenizer.json"));
        var ex = Assert.Throws<ArgumentException>(() => GgufModelExporter.Export(modelDir, Path.Combine(_dir, "odd.gguf"), GgufTensorType.Q8_0));
        Assert.Contains("40 columns", ex.Message);
    }
}
