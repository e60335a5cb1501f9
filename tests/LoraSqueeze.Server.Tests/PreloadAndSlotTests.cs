using LoraSqueeze.Protos.V1;
using LoraSqueeze.Server.Hosting;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// The start-up preload (<see cref="ServerOptions.PreloadAdapters"/>: the host tier filled from disk, as S-LoRA keeps its
/// adapters in host memory) and bfloat16 device slots, on real servers.
/// </summary>
public sealed class PreloadAndSlotTests
{
    private static async Task WaitForPreloadAsync(TestServer server) =>
        await Eventually.True(async () => MetricsText.Value(await MetricsText.ReadAsync(server), "lorasqueeze_adapter_preload_finished") == 1,
            timeoutMs: 60_000);

    [Fact]
    public async Task Preload_fills_the_host_tier_skips_a_broken_adapter_and_requests_then_hit_the_host_tier()
    {
        await using var server = await TestServer.StartAsync(o =>
        {
            o.PreloadAdapters = true;
            // A broken adapter among the good ones: the preload logs it, counts it, and goes on.
            var broken = Directory.CreateDirectory(Path.Combine(o.AdapterRoots[0], "zz-broken")).FullName;
            File.WriteAllText(Path.Combine(broken, "adapter_config.json"), "{ not json");
        });
        await WaitForPreloadAsync(server);
        var metrics = await MetricsText.ReadAsync(server);
        Assert.Equal(0, MetricsText.Value(metrics, "lorasqueeze_adapter_preload_pending"));
        Assert.Equal(3, MetricsText.Value(metrics, "lorasqueeze_adapter_loads_total", ("result", "ok")));
        Assert.Equal(1, MetricsText.Value(metrics, "lorasqueeze_adapter_loads_total", ("result", "error")));
        Assert.Equal(3, MetricsText.Value(metrics, "lorasqueeze_adapters", ("tier", "host")));
        // A preload is not a request: no adapter lookup was served from any tier yet.
        Assert.Equal(0, MetricsText.Value(metrics, "lorasqueeze_adapter_hits_total"));

        var list = await server.Adapters.ListAsync(new ListAdaptersRequest());
        foreach (var id in new[] { "demo-r4", "demo-r8", "demo-r16" })
            Assert.Equal(Tier.Host, list.Adapters.Single(a => a.AdapterId == id).Tier);

        var reply = await server.Inference.GenerateAsync(InferenceTests.Request("the quick brown fox", "demo-r8", maxTokens: 4));
        Assert.NotEmpty(reply.TokenIds);
        metrics = await MetricsText.ReadAsync(server);
        Assert.Equal(1, MetricsText.Value(metrics, "lorasqueeze_adapter_hits_total", ("tier", "host")));
        Assert.Equal(0, MetricsText.Value(metrics, "lorasqueeze_adapter_hits_total", ("tier", "disk")));
        Assert.Equal(3, MetricsText.Value(metrics, "lorasqueeze_adapter_loads_total", ("result", "ok"))); // no second read
    }

    [Fact]
    public async Task Preload_stops_at_the_host_budget_without_evicting_what_it_loaded()
    {
        long perAdapter;
        await using (var probe = await TestServer.StartAsync(o => o.PreloadAdapters = true))
        {
            await WaitForPreloadAsync(probe);
            // Every demo adapter is squeezed (or padded) to the same slot rank and modules: equal sizes.
            perAdapter = (long)MetricsText.Value(await MetricsText.ReadAsync(probe), "lorasqueeze_adapter_bytes", ("tier", "host")) / 3;
        }
        Assert.True(perAdapter > 0);
        await using var server = await TestServer.StartAsync(o =>
        {
            o.PreloadAdapters = true;
            o.HostCacheBytes = perAdapter * 5 / 2;   // room for two of the three
        });
        await WaitForPreloadAsync(server);
        var metrics = await MetricsText.ReadAsync(server);
        Assert.Equal(2, MetricsText.Value(metrics, "lorasqueeze_adapters", ("tier", "host")));
        Assert.Equal(0, MetricsText.Value(metrics, "lorasqueeze_adapter_evictions_total", ("tier", "host")));
        Assert.Equal(2, MetricsText.Value(metrics, "lorasqueeze_adapter_loads_total", ("result", "ok")));
        // The one left on disk still loads on demand.
        var list = await server.Adapters.ListAsync(new ListAdaptersRequest());
        var onDisk = list.Adapters.Single(a => a.Tier == Tier.Disk && a.AdapterId.StartsWith("demo-", StringComparison.Ordinal));
        var reply = await server.Inference.GenerateAsync(InferenceTests.Request("hello", onDisk.AdapterId, maxTokens: 2));
        Assert.NotEmpty(reply.TokenIds);
    }

    [Fact]
    public async Task Without_preload_nothing_is_loaded_before_the_first_request()
    {
        await using var server = await TestServer.StartAsync();
        var metrics = await MetricsText.ReadAsync(server);
        Assert.Equal(1, MetricsText.Value(metrics, "lorasqueeze_adapter_preload_finished"));
        Assert.Equal(0, MetricsText.Value(metrics, "lorasqueeze_adapter_loads_total", ("result", "ok")));
        Assert.Equal(0, MetricsText.Value(metrics, "lorasqueeze_adapters", ("tier", "host")));
    }

    /// <summary>
    /// bfloat16 slots take exactly half of float32's device bytes; int8 a quarter of the factor bytes plus two float32
    /// scales per rank row in each projection (under a third in all). Either way the base model is untouched and the
    /// adapter still changes the output.
    /// </summary>
    [Theory]
    [InlineData("bfloat16", 0.5, 0.5)]
    [InlineData("int8", 0.25, 1.0 / 3)]
    public async Task Smaller_slot_dtypes_take_fewer_device_bytes_and_still_apply_the_adapter(string dtype, double minShare, double maxShare)
    {
        await using var f32 = await TestServer.StartAsync();
        await using var small = await TestServer.StartAsync(o => o.SlotDType = dtype);
        var withAdapter = InferenceTests.Request("the quick brown fox", "demo-r16", maxTokens: 8, seed: null, temperature: 0);
        var baseOnly = InferenceTests.Request("the quick brown fox", "", maxTokens: 8, seed: null, temperature: 0);
        var a = await f32.Inference.GenerateAsync(withAdapter);
        var b = await small.Inference.GenerateAsync(withAdapter);
        double f32Bytes = MetricsText.Value(await MetricsText.ReadAsync(f32), "lorasqueeze_adapter_bytes", ("tier", "device"));
        double smallBytes = MetricsText.Value(await MetricsText.ReadAsync(small), "lorasqueeze_adapter_bytes", ("tier", "device"));
        Assert.True(f32Bytes > 0);
        Assert.InRange(smallBytes, f32Bytes * minShare, f32Bytes * maxShare);
        var baseTokens = (await f32.Inference.GenerateAsync(baseOnly)).TokenIds;
        Assert.Equal(baseTokens, (await small.Inference.GenerateAsync(baseOnly)).TokenIds);
        Assert.NotEqual(baseTokens, a.TokenIds);
        Assert.NotEqual(baseTokens, b.TokenIds);
    }

    [Theory]
    [InlineData("float16")]
    [InlineData("int4")]
    public void An_unknown_slot_dtype_is_refused_by_name(string dtype)
    {
        var options = new ServerOptions { ModelPath = "/m", SlotDType = dtype };
        var ex = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("Server:SlotDType", ex.Message, StringComparison.Ordinal);
        Assert.Contains(dtype, ex.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// <c>--weight-dtype</c> reaches the model: the int8/bf16 server generates exactly what the model runtime gives with
    /// the same packed weights in process (greedy, base and adapter), and the packed weights change the numbers (so the
    /// setting is not silently ignored) while staying close to float32.
    /// </summary>
    [Theory]
    [InlineData("int8")]
    [InlineData("bfloat16")]
    public async Task Packed_base_weights_serve_what_the_packed_model_computes(string dtype)
    {
        await using var f32 = await TestServer.StartAsync();
        await using var packed = await TestServer.StartAsync(o => o.WeightDType = dtype);
        int[] ids = [1, 17, 42, 9, 23, 5];
        var request = InferenceTests.Request("", "", maxTokens: 8, seed: null, temperature: 0, logprobs: true);
        request.Tokens = new TokenIds();
        request.Tokens.Ids.AddRange(ids);
        var a = await f32.Inference.GenerateAsync(request);
        var b = await packed.Inference.GenerateAsync(request);
        var type = LoraSqueeze.Model.Lora.SlotDTypes.Parse(dtype, "test");
        using var model = LoraSqueeze.Model.CausalLM.Load(packed.Options.ModelPath, TorchSharp.torch.CPU,
            new LoraSqueeze.Model.ModelLoadOptions { AdapterRank = packed.Options.TargetRank, AdapterSlots = 1, WeightDType = type });
        var expected = Greedy(model, ids, b.TokenIds.Count);
        Assert.Equal(expected, b.TokenIds);
        // Close to float32, not equal to it: the first token's log-probability moves, but by little.
        Assert.NotEqual(a.Logprobs[0], b.Logprobs[0]);
        Assert.InRange(Math.Abs(a.Logprobs[0] - b.Logprobs[0]), 0, 0.05);
    }

    [Fact]
    public void Packed_base_weights_on_a_gpu_are_refused_at_start_up()
    {
        var ex = Assert.Throws<ArgumentException>(new ServerOptions { ModelPath = "/m", WeightDType = "int8", Device = "cuda" }.Validate);
        Assert.Contains("Server:WeightDType", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<ArgumentException>(new ServerOptions { ModelPath = "/m", WeightDType = "int4" }.Validate);
        Assert.Contains("int4", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Int8_activations_without_int8_weights_or_an_unknown_activation_type_are_refused_at_start_up()
    {
        var ex = Assert.Throws<ArgumentException>(new ServerOptions { ModelPath = "/m", ActivationDType = "int8" }.Validate);
        Assert.Contains("Server:ActivationDType int8", ex.Message, StringComparison.Ordinal);
        ex = Assert.Throws<ArgumentException>(new ServerOptions { ModelPath = "/m", WeightDType = "int8", ActivationDType = "int4" }.Validate);
        Assert.Contains("'int4'", ex.Message, StringComparison.Ordinal);
        new ServerOptions { ModelPath = "/m", WeightDType = "int8", ActivationDType = "int8" }.Validate();   // the one valid pairing
    }

    private static int[] Greedy(LoraSqueeze.Model.CausalLM model, int[] prompt, int count)
    {
        using var mode = TorchSharp.torch.inference_mode();
        using var cache = model.CreateCache(1, prompt.Length + count + 1);
        var result = new int[count];
        int[] input = prompt;
        int pos = 0;
        for (int g = 0; g < count; g++)
        {
            using var scope = TorchSharp.torch.NewDisposeScope();
            result[g] = (int)model.Forward([new LoraSqueeze.Model.Modules.SequenceChunk(0, pos, input, -1)], cache).argmax(1).item<long>();
            pos += input.Length;
            input = [result[g]];
        }
        return result;
    }
}
