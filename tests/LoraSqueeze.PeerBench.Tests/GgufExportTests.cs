using LLama;
using LLama.Native;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Gguf;
using LoraSqueeze.PeerBench;
using LoraSqueeze.Testing;

namespace LoraSqueeze.PeerBench.Tests;

/// <summary>
/// The GGUF export against the real llama.cpp: greedy decoding of the same prompt ids must give the same tokens and
/// (float32 KV cache on both sides) log-probabilities within float32 summation-order noise.
/// </summary>
public sealed class GgufExportTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gguf-export-").FullName;
    private static readonly string DemoModel = Path.Combine(RepositoryFolder.Root, "models", "demo", "model");
    private static readonly string DemoAdapters = Path.Combine(RepositoryFolder.Root, "models", "demo", "adapters");

    // "In the beginning God created the heaven" in the demo tokenizer, BOS first
    private static readonly int[] DemoPrompt = [2045, 73, 110, 258, 1807, 1233, 389, 279, 560, 282, 258, 730];

    public GgufExportTests() => TorchRuntime.EnsureInitialized();

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static void AssertSameDecode((int[] Tokens, double[] Logprobs) ours, (int[] Tokens, double[] Logprobs) theirs, double tolerance)
    {
        Assert.Equal(ours.Tokens, theirs.Tokens);
        for (int i = 0; i < ours.Logprobs.Length; i++)
            Assert.True(Math.Abs(ours.Logprobs[i] - theirs.Logprobs[i]) < tolerance, $"token {i}: logprob {ours.Logprobs[i]} (LoraSqueeze) vs {theirs.Logprobs[i]} (llama.cpp)");
    }

    [Fact]
    public void DemoModelExportedAsF32DecodesLikeLoraSqueeze()
    {
        var gguf = Path.Combine(_dir, "demo-f32.gguf");
        GgufModelExporter.Export(DemoModel, gguf, GgufTensorType.F32);
        var file = new GgufReader(gguf);
        Assert.Equal("llama", file.Metadata["general.architecture"]);
        Assert.Equal("llama-bpe", file.Metadata["tokenizer.ggml.pre"]);
        Assert.Equal(2048, ((object[])file.Metadata["tokenizer.ggml.tokens"]).Length);
        Assert.Equal(2045u, file.Metadata["tokenizer.ggml.bos_token_id"]);
        Assert.True(file.Metadata.ContainsKey("tokenizer.chat_template"));
        Assert.DoesNotContain(file.Tensors, t => t.Name == "output.weight");   // tied embeddings: llama.cpp reuses token_embd

        using var theirs = new LlamaCppRuntime(gguf, [], threads: 2);
        using var ours = new LoraSqueezeRuntime(DemoModel, [], rank: 8, threads: 2);
        AssertSameDecode(ours.Generate(DemoPrompt, 32), theirs.Generate(DemoPrompt, 32), 2e-3);
    }

    [Theory]
    [InlineData("devil", 8)]        // DoRA: ΔW rebuilt from magnitude and direction, then squeezed by RSVD
    [InlineData("fortunes-de", 8)]  // rsLoRA r64: scale α/√r folded in, squeezed exactly
    [InlineData("jargon", 16)]      // VeRA: shared projections and vectors, ΔW factored and squeezed
    public void SqueezedDemoAdapterExportedAsLoraGgufDecodesLikeLoraSqueeze(string adapter, int rank)
    {
        var model = Path.Combine(_dir, "demo-f32.gguf");
        GgufModelExporter.Export(DemoModel, model, GgufTensorType.F32);
        var lora = Path.Combine(_dir, adapter + ".gguf");
        var (weights, _) = AdapterSqueezer.LoadAndSqueeze(Path.Combine(DemoAdapters, adapter), rank, new SqueezeOptions(), DemoModel);
        using (weights) GgufLoraExporter.Export(weights, ModelConfig.Load(DemoModel), lora);
        var file = new GgufReader(lora);
        Assert.Equal("adapter", file.Metadata["general.type"]);
        Assert.Equal((float)rank, file.Metadata["adapter.lora.alpha"]);
        Assert.Equal(4 * 7 * 2, file.Tensors.Count);   // 4 layers × 7 projections × (lora_a, lora_b)
        Assert.Equal([128L, rank], file.Tensor("blk.0.attn_q.weight.lora_a").Ne);   // A [r, in] → ne [in, r]
        Assert.Equal([rank, 128L], file.Tensor("blk.0.attn_q.weight.lora_b").Ne);   // B [out, r] → ne [r, out]

        using var theirs = new LlamaCppRuntime(model, [lora], threads: 2);
        using var ours = new LoraSqueezeRuntime(DemoModel, [Path.Combine(DemoAdapters, adapter)], rank, threads: 2);
        var (baseTokens, _) = ours.Generate(DemoPrompt, 24);
        var oursOnAdapter = ours.Generate(DemoPrompt, 24, slot: 0);
        Assert.NotEqual(baseTokens, oursOnAdapter.Tokens);   // the adapter changes the output, so agreeing on it means something
        AssertSameDecode(oursOnAdapter, theirs.Generate(DemoPrompt, 24, adapter: 0), 2e-3);
    }

    [Fact]
    public void Qwen2ModelWithBiasesExportsToLlamaCppQwen2()
    {
        var modelDir = Path.Combine(_dir, "qwen2");
        TinyAssets.WriteModel(modelDir, "the quick brown fox jumps over the lazy dog, 0123456789. hello world, hello adapters.", vocabSize: 300,
            TinyModelSpec.Qwen2 with { HiddenSize = 64, IntermediateSize = 128, Heads = 4, KvHeads = 2, Seed = 11 });
        var gguf = Path.Combine(_dir, "qwen2.gguf");
        GgufModelExporter.Export(modelDir, gguf, GgufTensorType.F32);
        var file = new GgufReader(gguf);
        Assert.Equal("qwen2", file.Metadata["general.architecture"]);
        Assert.Contains(file.Tensors, t => t.Name == "blk.0.attn_q.bias");

        using var theirs = new LlamaCppRuntime(gguf, [], threads: 2);
        using var ours = new LoraSqueezeRuntime(modelDir, [], rank: 4, threads: 2);
        int[] prompt = [1, 17, 42, 99, 150, 7, 230, 64];
        AssertSameDecode(ours.Generate(prompt, 24), theirs.Generate(prompt, 24), 2e-3);
    }

    [Fact]
    public void Q8_0ExportEqualsLlamaCppsOwnQuantizerByteForByte()
    {
        var f32 = Path.Combine(_dir, "demo-f32.gguf");
        var ours = Path.Combine(_dir, "demo-q8_0.gguf");
        var theirs = Path.Combine(_dir, "demo-q8_0-llama.gguf");
        GgufModelExporter.Export(DemoModel, f32, GgufTensorType.F32);
        GgufModelExporter.Export(DemoModel, ours, GgufTensorType.Q8_0);
        Assert.True(LLamaQuantizer.Quantize(f32, theirs, LLamaFtype.MOSTLY_Q8_0, nthread: 2), "llama.cpp's quantizer failed");
        var a = new GgufReader(ours);
        var b = new GgufReader(theirs);
        int compared = 0;
        foreach (var t in a.Tensors)
        {
            var u = b.Tensor(t.Name);
            Assert.Equal(t.Ne, u.Ne);
            if (t.Type != 8 || u.Type != 8) continue;
            long bytes = t.Ne[1] * (t.Ne[0] / GgufTensorTypes.Q8Block) * GgufTensorTypes.Q8BlockBytes;
            Assert.True(a.ReadBytes(t, bytes).AsSpan().SequenceEqual(b.ReadBytes(u, bytes)), $"{t.Name}: Q8_0 bytes differ from llama.cpp's");
            compared++;
        }
        Assert.True(compared >= 28, $"only {compared} Q8_0 tensors were compared");   // every projection at least

        // and llama.cpp decodes our Q8_0 file as it decodes its own
        using var q8 = new LlamaCppRuntime(ours, [], threads: 2);
        using var q8Theirs = new LlamaCppRuntime(theirs, [], threads: 2);
        Assert.Equal(q8Theirs.Generate(DemoPrompt, 16).Tokens, q8.Generate(DemoPrompt, 16).Tokens);
    }
}
