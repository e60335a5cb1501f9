using LoraSqueeze.Testing;
using static LoraSqueeze.Cli.Tests.CliProcess;

namespace LoraSqueeze.Cli.Tests;

/// <summary>Bad input to serve, plan, client, tokenize and bench decode: one "error:" line and a non-zero exit, never a stack trace.</summary>
public sealed class CliErrorTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cli-err-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Serve_with_a_bad_size() =>
        AssertCleanError(Run("serve", "--model", DemoFixture.Assets.ModelDir, "--host-cache", "abc", "--port", "0", "--metrics-port", "0", "--http-port", "0"), "'abc'");

    [Fact]
    public void Serve_with_an_unsupported_model()
    {
        var model = Path.Combine(_dir, "gpt2");
        Directory.CreateDirectory(model);
        File.WriteAllText(Path.Combine(model, "config.json"),
            """{ "model_type": "gpt2", "vocab_size": 100, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4 }""");
        AssertCleanError(Run("serve", "--model", model, "--port", "0", "--metrics-port", "0", "--http-port", "0"), "gpt2");
    }

    [Fact]
    public void Serve_with_a_model_whose_weights_are_missing()
    {
        // Config and tokenizer are fine, so the failure comes from the engine thread loading the weights.
        var model = Path.Combine(_dir, "no-weights");
        Directory.CreateDirectory(model);
        foreach (var file in Directory.GetFiles(DemoFixture.Assets.ModelDir, "*.json")) File.Copy(file, Path.Combine(model, Path.GetFileName(file)));
        var (code, stdout, stderr) = Run("serve", "--model", model, "--port", "0", "--metrics-port", "0", "--http-port", "0");
        // The engine's own log line goes to stdout (console logger); it must not carry a stack trace either.
        Assert.DoesNotContain("   at ", stdout);
        AssertCleanError((code, stdout, stderr), "model.safetensors");
    }

    [Fact]
    public void Plan_with_a_missing_model() =>
        AssertCleanError(Run("plan", "--model", Path.Combine(_dir, "missing"), "--rank", "8", "--budget", "1MiB"), "missing");

    [Fact]
    public void Client_against_a_closed_port()
    {
        int port = FreePort.Next();   // free now, and nothing listens on it
        var address = $"http://127.0.0.1:{port}";
        var error = AssertCleanError(Run("client", "--server", address, "generate", "--prompt", "hi"), "cannot reach the server");
        Assert.Contains(address, error);
    }

    [Fact]
    public void Client_with_a_malformed_address() =>
        AssertCleanError(Run("client", "--server", "not a url", "list"), "error:");

    [Fact]
    public void Tokenize_with_a_missing_model() =>
        AssertCleanError(Run("tokenize", "--model", Path.Combine(_dir, "missing"), "--text", "hi"), "missing");

    [Fact]
    public void Bench_decode_with_a_bad_shape() =>
        AssertCleanError(Run("bench", "decode", "--shape", "huge"), "--shape huge");
}
