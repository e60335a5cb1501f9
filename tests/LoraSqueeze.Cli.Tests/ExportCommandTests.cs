using LoraSqueeze.Testing;
using static LoraSqueeze.Cli.Tests.CliProcess;

namespace LoraSqueeze.Cli.Tests;

/// <summary>
/// <c>lorasqueeze export gguf</c> as a user runs it: the files it writes, and clean refusals. (llama.cpp decoding these
/// files is tested in LoraSqueeze.PeerBench.Tests.)
/// </summary>
public sealed class ExportCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cli-export-").FullName;
    private static readonly string DemoModel = Path.Combine(RepositoryFolder.Root, "models", "demo", "model");
    private static readonly string Bofh = Path.Combine(RepositoryFolder.Root, "models", "demo", "adapters", "bofh");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Exports_the_base_model_and_a_squeezed_adapter()
    {
        var model = Path.Combine(_dir, "demo-q8_0.gguf");
        var (code, stdout, stderr) = Run("export", "gguf", "--model", DemoModel, "--type", "q8_0", "--out", model);
        Assert.True(code == 0, stderr);
        Assert.Contains("q8_0 GGUF", stdout);
        var file = new GgufReader(model);
        Assert.Equal(7u, file.Metadata["general.file_type"]);                        // LLAMA_FTYPE_MOSTLY_Q8_0
        Assert.Equal(8u, file.Tensor("blk.0.ffn_gate.weight").Type);                 // Q8_0
        Assert.Equal(0u, file.Tensor("blk.0.attn_norm.weight").Type);                // norms stay f32
        Assert.All(file.Tensors, t => Assert.Equal(0, t.Offset % file.Alignment));

        var adapter = Path.Combine(_dir, "bofh.gguf");
        (code, stdout, stderr) = Run("export", "gguf", "--model", DemoModel, "--adapter", Bofh, "--rank", "4", "--out", adapter);
        Assert.True(code == 0, stderr);
        Assert.Contains("squeezed to rank 4", stdout);
        Assert.Equal("lora", new GgufReader(adapter).Metadata["adapter.type"]);
    }

    [Fact]
    public void Refuses_to_overwrite_without_force()
    {
        var path = Path.Combine(_dir, "exists.gguf");
        File.WriteAllText(path, "keep me");
        AssertCleanError(Run("export", "gguf", "--model", DemoModel, "--out", path), "--force");
        Assert.Equal("keep me", File.ReadAllText(path));
    }

    [Fact]
    public void Refuses_an_adapter_without_a_rank() =>
        AssertCleanError(Run("export", "gguf", "--model", DemoModel, "--adapter", Bofh, "--out", Path.Combine(_dir, "a.gguf")), "--rank");

    [Fact]
    public void Refuses_an_unknown_type() =>
        AssertCleanError(Run("export", "gguf", "--model", DemoModel, "--type", "q4_k", "--out", Path.Combine(_dir, "a.gguf")), "q4_k");

    [Fact]
    public void Refuses_rope_scaling_it_cannot_carry()
    {
        var model = Path.Combine(_dir, "llama3-rope");
        TinyModelFactory.Write(model, TinyModelSpec.Llama with { RopeScaling = new LoraSqueeze.Model.Config.RopeScaling { RopeType = "llama3", Factor = 8 } });
        var error = AssertCleanError(Run("export", "gguf", "--model", model, "--out", Path.Combine(_dir, "a.gguf")), "rope_scaling 'llama3'");
        Assert.False(File.Exists(Path.Combine(_dir, "a.gguf")));
        Assert.DoesNotContain("   at ", error);
    }
}
