using System.Text.Json;

namespace LoraSqueeze.Cli.Tests;

/// <summary>`pretrain --json` and `train --json` on a few steps: stdout holds exactly one JSON summary, progress goes
/// to stderr, and the summary describes what was written.</summary>
public sealed class TrainingJsonTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("train-json-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void PretrainThenTrainPrintJsonSummaries()
    {
        var data = Path.Combine(_dir, "data.jsonl");
        var lines = Enumerable.Range(0, 120).Select(i => JsonSerializer.Serialize(new { text = $"The cat {i} sat on the mat number {i * 3}, and the dog barked." }));
        File.WriteAllLines(data, lines);

        var model = Path.Combine(_dir, "model");
        var (code, stdout, stderr) = CliProcess.Run("pretrain", "--data", data, "--out", model, "--vocab", "300", "--hidden", "32",
            "--intermediate", "64", "--layers", "1", "--heads", "2", "--kv-heads", "1", "--steps", "3", "--batch", "2", "--seq-len", "16", "--json");
        Assert.True(code == 0, stderr);
        using (var summary = JsonDocument.Parse(stdout))
        {
            Assert.Equal(model, summary.RootElement.GetProperty("modelDir").GetString());
            Assert.True(summary.RootElement.GetProperty("tokens").GetInt64() > 0);
        }
        Assert.True(File.Exists(Path.Combine(model, "config.json")));

        var adapter = Path.Combine(_dir, "adapter");
        (code, stdout, stderr) = CliProcess.Run("train", "--model", model, "--data", data, "--out", adapter, "--rank", "4",
            "--steps", "3", "--batch", "2", "--seq-len", "16", "--squeeze-to", "2", "--json");
        Assert.True(code == 0, stderr);
        using (var summary = JsonDocument.Parse(stdout))
        {
            Assert.Equal(2, summary.RootElement.GetProperty("finalRank").GetInt32());
            Assert.Equal(3, summary.RootElement.GetProperty("updateSteps").GetInt32());
            Assert.Equal(adapter, summary.RootElement.GetProperty("adapterDir").GetString());
        }
        Assert.True(File.Exists(Path.Combine(adapter, "adapter_model.safetensors")));
    }
}
