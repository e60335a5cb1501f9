using System.Reflection;
using System.Text.Json;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Server.Hosting;
using LoraSqueeze.Testing;
using TorchSharp;

namespace LoraSqueeze.Server.Tests;

/// <summary>Where options come from (appsettings.json &lt; LORASQUEEZE_ environment &lt; flags) and the shipped defaults.</summary>
public sealed class ConfigurationTests
{
    [Fact]
    public void Appsettings_then_environment_then_flags()
    {
        var dir = Directory.CreateTempSubdirectory("lsq-config-").FullName;
        File.WriteAllText(Path.Combine(dir, "appsettings.json"),
            """{ "Server": { "Port": 1111, "TargetRank": 4, "Slots": 2, "MaxBatch": 3, "AdapterRoots": [ "/from-json" ] } }""");
        // Keys no other test reads, and removed again: environment variables are process-wide.
        Environment.SetEnvironmentVariable("LORASQUEEZE_SERVER__TARGETRANK", "6");
        Environment.SetEnvironmentVariable("LORASQUEEZE_SERVER__SLOTS", "5");
        Environment.SetEnvironmentVariable("LORASQUEEZE_SERVER__QUEUELENGTH", "9");
        try
        {
            var options = ServerConfiguration.Load(dir, o => o.Slots = 7);

            Assert.Equal(1111, options.Port);             // appsettings.json only
            Assert.Equal(3, options.MaxBatch);            // appsettings.json only
            Assert.Equal(["/from-json"], options.AdapterRoots);
            Assert.Equal(6, options.TargetRank);          // environment over appsettings.json
            Assert.Equal(9, options.QueueLength);         // environment over the default
            Assert.Equal(7, options.Slots);               // flag over environment and appsettings.json
            Assert.Equal(new ServerOptions().MetricsPort, options.MetricsPort); // nowhere: the default
        }
        finally
        {
            Environment.SetEnvironmentVariable("LORASQUEEZE_SERVER__TARGETRANK", null);
            Environment.SetEnvironmentVariable("LORASQUEEZE_SERVER__SLOTS", null);
            Environment.SetEnvironmentVariable("LORASQUEEZE_SERVER__QUEUELENGTH", null);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_misspelt_key_and_broken_json_are_refused_naming_them()
    {
        var dir = Directory.CreateTempSubdirectory("lsq-config-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "appsettings.json"), """{ "Server": { "TargetRnak": 4, "Slots": 2 } }""");
            var typo = Assert.Throws<ArgumentException>(() => ServerConfiguration.Load(dir));
            Assert.Contains("Server:TargetRnak", typo.Message);

            File.WriteAllText(Path.Combine(dir, "appsettings.json"), "{\n  \"Server\": {\n    \"Slots\": 2,,\n  }\n}");
            var json = Assert.Throws<ArgumentException>(() => ServerConfiguration.Load(dir));
            Assert.Contains("appsettings.json", json.Message);
            Assert.Contains("line", json.Message, StringComparison.OrdinalIgnoreCase);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData(1.5, 4, 4, "Uniform", "refuse", "Server:MinRetainedEnergy must be in (0, 1]")]
    [InlineData(0.0, 4, 4, "Uniform", "refuse", "Server:MinRetainedEnergy must be in (0, 1]")]
    [InlineData(0.9, 5, 4, "Uniform", "refuse", "Server:MaxSlotsPerAdapter must be between 1 and Server:Slots (4)")]
    [InlineData(0.9, 0, 4, "Uniform", "refuse", "Server:MaxSlotsPerAdapter must be between 1")]
    [InlineData(0.9, 2, 4, "Padded", "refuse", "Server:MinRetainedEnergy needs the uniform layout")]
    [InlineData(0.9, 2, 4, "Uniform", "sometimes", "Server:BelowEnergyFloor must be refuse or serve-at-cap")]
    public void An_energy_floor_that_cannot_work_is_refused_at_start_up(double floor, int maxSlots, int slots, string layout, string below, string message)
    {
        var options = new ServerOptions
        {
            ModelPath = DemoFixture.Assets.ModelDir, MinRetainedEnergy = floor, MaxSlotsPerAdapter = maxSlots, Slots = slots,
            LoraLayout = Enum.Parse<Model.LoraLayout>(layout), BelowEnergyFloor = below,
        };
        var ex = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains(message, ex.Message);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(10_001)]
    public void A_warm_up_that_cannot_work_is_refused_at_start_up(int steps)
    {
        var options = new ServerOptions { ModelPath = DemoFixture.Assets.ModelDir, WarmupSteps = steps };
        var ex = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains($"Server:WarmupSteps must be between 0 and 10000 (got {steps})", ex.Message);
    }

    /// <summary>The warm-up runs before the server reports ready and says how long it took; with 0 steps none runs.</summary>
    [Fact]
    public async Task The_warm_up_runs_before_ready_and_is_reported()
    {
        foreach (var steps in new[] { 0, 12 })
        {
            await using var server = await TestServer.StartAsync(o => o.WarmupSteps = steps);
            var text = await MetricsText.ReadAsync(server);       // StartAsync returns once health is SERVING
            double seconds = MetricsText.Value(text, "lorasqueeze_warmup_seconds");
            if (steps == 0) Assert.Equal(0, seconds);
            else Assert.True(seconds > 0, $"warm-up of {steps} steps reported {seconds} s");
            Assert.Equal(0, MetricsText.Value(text, "lorasqueeze_generated_tokens_total"));   // its tokens are not served tokens
            var reply = await server.Inference.GenerateAsync(InferenceTests.Request("after warm-up", maxTokens: 4));
            Assert.True(reply.TokenIds.Count > 0, "no tokens after the warm-up");
        }
    }

    [Fact]
    public void A_missing_adapter_root_is_refused_at_start_up()
    {
        var options = new ServerOptions { ModelPath = DemoFixture.Assets.ModelDir, AdapterRoots = ["/no/such/adapter-root"] };
        var ex = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("/no/such/adapter-root", ex.Message);
    }

    [Fact]
    public async Task A_host_cache_too_small_for_any_adapter_is_refused_at_start_up()
    {
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => TestServer.StartAsync(o => o.HostCacheBytes = 1024));
        Assert.Contains("HostCacheBytes", ex.Message);
        Assert.Contains("holds no adapter", ex.Message);
    }

    [Fact]
    public void A_config_file_sits_between_the_shipped_defaults_and_the_environment()
    {
        var dir = Directory.CreateTempSubdirectory("lsq-config-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "appsettings.json"), """{ "Server": { "Port": 1111, "Slots": 2, "MaxBatch": 3 } }""");
            var mine = Path.Combine(dir, "mine.json");
            File.WriteAllText(mine, """{ "Server": { "Port": 2222, "Slots": 5 } }""");
            Environment.SetEnvironmentVariable("LORASQUEEZE_SERVER__MAXTOKENSPERSTEP", "99");
            Environment.SetEnvironmentVariable("LORASQUEEZE_SERVER__SLOTS", "6");
            var options = ServerConfiguration.Load(dir, configFile: mine);
            Assert.Equal(2222, options.Port);        // the config file over the shipped file
            Assert.Equal(3, options.MaxBatch);       // the shipped file where the config file is silent
            Assert.Equal(6, options.Slots);          // the environment over the config file
            Assert.Equal(99, options.MaxTokensPerStep);
            var missing = Assert.Throws<ArgumentException>(() => ServerConfiguration.Load(dir, configFile: Path.Combine(dir, "nope.json")));
            Assert.Contains("nope.json", missing.Message);
        }
        finally
        {
            Environment.SetEnvironmentVariable("LORASQUEEZE_SERVER__MAXTOKENSPERSTEP", null);
            Environment.SetEnvironmentVariable("LORASQUEEZE_SERVER__SLOTS", null);
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void The_appsettings_block_in_the_server_docs_is_the_shipped_file()
    {
        var doc = File.ReadAllText(Path.Combine(RepositoryFolder.Root, "docs", "server.md"));
        int at = doc.IndexOf("The shipped `appsettings.json`:", StringComparison.Ordinal);
        Assert.True(at >= 0, "docs/server.md lost its appsettings section");
        int start = doc.IndexOf("```json", at, StringComparison.Ordinal) + "```json".Length;
        int end = doc.IndexOf("```", start, StringComparison.Ordinal);
        var documented = System.Text.Json.Nodes.JsonNode.Parse(doc[start..end]);
        var shipped = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "appsettings.json")));
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(shipped, documented),
            $"docs/server.md shows\n{documented}\nbut the shipped appsettings.json is\n{shipped}");
    }

    [Fact]
    public void The_shipped_appsettings_lists_every_option_at_its_default()
    {
        // Copied next to every program that references the server, this test's own output folder included.
        var path = Path.Combine(AppContext.BaseDirectory, "appsettings.json");
        Assert.True(File.Exists(path), $"{path} was not copied to the output");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var keys = doc.RootElement.GetProperty(ServerOptions.SectionName).EnumerateObject().Select(p => p.Name).Order().ToList();
        var properties = typeof(ServerOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanWrite).Select(p => p.Name).Order().ToList();
        Assert.Equal(properties, keys);

        var shipped = ServerConfiguration.Load(AppContext.BaseDirectory);
        var defaults = new ServerOptions();
        foreach (var p in typeof(ServerOptions).GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
        {
            var (a, b) = (p.GetValue(defaults), p.GetValue(shipped));
            if (a is List<string> la && b is List<string> lb) Assert.Equal(la, lb);
            else Assert.Equal(a, b);
        }
    }

    [Fact]
    public void Torch_threads_apply_on_the_engine_thread_even_after_torch_has_started()
    {
        // Torch already running in this process, as after `serve` generated its demo assets.
        TorchRuntime.EnsureInitialized();
        int wanted = torch.get_num_threads() + 1;
        var options = new ServerOptions
        {
            ModelPath = DemoFixture.Assets.ModelDir, TargetRank = DemoAssets.TargetRank, Slots = 1, MaxBatch = 1,
            MaxPromptTokens = 16, MaxTokens = 4, TorchThreads = wanted,
        };
        int seen = 0;
        Exception? failure = null;
        // A fresh thread, as the engine's: the model loads there and its steps run there.
        var engineLike = new Thread(() =>
        {
            try
            {
                using var model = ServerBackends.ForModel(options).CreateRunner();
                seen = torch.get_num_threads();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        engineLike.Start();
        engineLike.Join();

        Assert.Null(failure);
        Assert.Equal(wanted, seen);
    }
}
