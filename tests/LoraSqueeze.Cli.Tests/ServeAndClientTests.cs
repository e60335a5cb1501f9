using System.Text.Json;
using LoraSqueeze.Testing;
using static LoraSqueeze.Cli.Tests.CliProcess;

namespace LoraSqueeze.Cli.Tests;

/// <summary>
/// `lorasqueeze serve` as a process on free loopback ports with the demo model and adapters, and `lorasqueeze client`
/// processes against it: generate (unary, stream, sampling flags), load, list, unload.
/// </summary>
public sealed class ServeAndClientTests(ServeProcess server) : IClassFixture<ServeProcess>
{
    private const string ReadyText = ServeProcess.ReadyText;
    private readonly IReadOnlyCollection<string> _log = server.Log;
    private readonly string _address = server.Address;

    private (int Code, string Stdout, string Stderr) Client(params string[] args) => Run(["client", "--server", _address, .. args]);

    private static string Ok((int Code, string Stdout, string Stderr) result)
    {
        Assert.True(result.Code == 0, $"exit {result.Code}: {result.Stderr}");
        return result.Stdout;
    }

    [Fact]
    public void The_ready_line_names_layout_slot_and_weight_dtypes_kernel_and_whether_an_admin_token_is_set()
    {
        var ready = Assert.Single(_log, l => l.Contains(ReadyText, StringComparison.Ordinal));
        Assert.Contains("layout uniform, slot dtype float32, weight dtype float32, kernel bgmv, admin token not set", ready);
    }

    [Fact]
    public void Serve_help_shows_the_built_in_defaults_and_the_config_and_token_files()
    {
        var help = Ok(Run("serve", "--help"));
        foreach (var text in (string[])["default 50051", "default 9090", "default 8)", "default 4)", "default 256 MiB", "--config", "--admin-token-file"])
            Assert.Contains(text, help);
    }

    [Fact]
    public void Plan_explains_its_energy_columns()
    {
        var text = Ok(Run("plan", "--model", DemoFixture.Assets.ModelDir, "--rank", "8", "--budget", "3MiB", "--adapters", DemoFixture.Assets.AdapterRoot));
        Assert.Contains("mean energy: the share of ΔW's spectral energy", text);
        Assert.Contains("min energy: the same share for the single worst module", text);
    }

    [Fact]
    public void Serve_with_a_model_and_no_adapter_roots_says_so_in_its_ready_line()
    {
        using var serve = CliProcess.Start(["serve", "--model", DemoFixture.Assets.ModelDir, "--port", "0", "--metrics-port", "0", "--http-port", "0"]);
        var ready = serve.WaitForLine(l => l.Contains(ReadyText, StringComparison.Ordinal), TimeSpan.FromSeconds(90));
        Assert.Contains("adapter roots [none: no adapter can be served; pass --adapters DIR]", ready);
    }

    [Fact]
    public void Logs_one_ready_line_with_flags_over_environment()
    {
        Assert.StartsWith("http://127.0.0.1:", _address);
        var ready = Assert.Single(_log, l => l.Contains(ReadyText, StringComparison.Ordinal));
        Assert.Contains("target rank 8", ready);   // from the environment
        Assert.Contains("2 slots", ready);         // the flag beats LORASQUEEZE_SERVER__SLOTS=5
        Assert.Contains(DemoFixture.Assets.AdapterRoot, ready);
        Assert.Contains("host cache 256 MiB", ready); // the shipped appsettings.json default
        Assert.True(File.Exists(Path.Combine(Path.GetDirectoryName(Dll)!, "appsettings.json")), "appsettings.json not shipped with the CLI");
        // Still one after serving requests.
        Ok(Client("generate", "--prompt", "hello", "--max-tokens", "3"));
        Assert.Single(_log, l => l.Contains(ReadyText, StringComparison.Ordinal));
    }

    [Fact]
    public void Generate_unary_json_and_stream_agree()
    {
        string[] greedy = ["generate", "--prompt", "the cat sat", "--adapter", "demo-r8", "--max-tokens", "8", "--temperature", "0"];
        using var json = JsonDocument.Parse(Ok(Client([.. greedy, "--json", "--logprobs"])));
        var root = json.RootElement;
        int tokens = root.GetProperty("tokenIds").GetArrayLength();
        Assert.InRange(tokens, 1, 8);
        Assert.Equal(tokens, root.GetProperty("logprobs").GetArrayLength());
        Assert.Equal("demo-r8", root.GetProperty("adapterId").GetString());
        Assert.Equal(tokens, root.GetProperty("usage").GetProperty("completionTokens").GetInt32());

        // Plain output: the text, then "[finish, n prompt + m generated tokens]"; streaming prints the same.
        var unary = Ok(Client(greedy));
        var streamed = Ok(Client([.. greedy, "--stream"]));
        Assert.Equal(unary, streamed);
        Assert.Contains($"+ {tokens} generated tokens]", unary);
    }

    [Fact]
    public void Generate_sampling_flags_reach_the_server()
    {
        string[] prompt = ["generate", "--prompt", "hello hello hello hello", "--max-tokens", "24"];
        var greedy = Ok(Client([.. prompt, "--temperature", "0"]));
        // --top-k 1 leaves only the arg-max: a hot seeded sample equals greedy.
        Assert.Equal(greedy, Ok(Client([.. prompt, "--temperature", "1.5", "--seed", "3", "--top-k", "1"])));
        // Without --top-k the same seeded sample leaves the greedy path.
        Assert.NotEqual(greedy, Ok(Client([.. prompt, "--temperature", "1.5", "--seed", "3"])));
        // --repetition-penalty: greedy on this prompt repeats tokens; a huge penalty makes it avoid them.
        var penalised = Ok(Client([.. prompt, "--temperature", "0", "--repetition-penalty", "1000"]));
        Assert.NotEqual(greedy, penalised);
    }

    [Fact]
    public void Load_list_unload()
    {
        using var loaded = JsonDocument.Parse(Ok(Client("load", "demo-r4", "--json")));
        var adapter = loaded.RootElement.GetProperty("adapter");
        Assert.Equal("demo-r4", adapter.GetProperty("adapterId").GetString());
        Assert.Equal("TIER_HOST", adapter.GetProperty("tier").GetString());
        Assert.Equal(8, adapter.GetProperty("squeeze").GetProperty("targetRank").GetInt32());

        using var list = JsonDocument.Parse(Ok(Client("list", "--json")));
        var tiers = list.RootElement.GetProperty("adapters").EnumerateArray()
            .ToDictionary(a => a.GetProperty("adapterId").GetString()!, a => a.GetProperty("tier").GetString());
        Assert.Equal("TIER_HOST", tiers["demo-r4"]);
        Assert.Equal("TIER_DISK", tiers["demo-r16"]);

        Assert.Equal("unloaded", Ok(Client("unload", "demo-r4")).Trim());
        Assert.Contains("demo-r4: disk", Ok(Client("list")));
        Assert.Equal("was not loaded", Ok(Client("unload", "demo-r4")).Trim());
    }
}
