using Google.Protobuf;
using Grpc.Core;
using LoraSqueeze.Protos.V1;
using static LoraSqueeze.Server.Tests.InferenceTests;
using static LoraSqueeze.Server.Tests.RpcAssert;

namespace LoraSqueeze.Server.Tests;

/// <summary>Hostile or careless input and load that the server must answer precisely and survive.</summary>
public sealed class HardeningTests
{
    [Fact]
    public async Task A_header_claiming_a_huge_tensor_is_refused_before_its_data_is_read()
    {
        await using var server = await TestServer.StartAsync();
        var dir = Path.Combine(server.AdapterRoot, "claims-4gib");
        TestServer.CopyDirectory(Path.Combine(server.AdapterRoot, "demo-r4"), dir);
        // A valid-looking header whose lora_A claims [8, 134217728] float32 (4 GiB), backed by a sparse file.
        const long huge = 8L * 134217728 * 4;
        const string module = "base_model.model.model.layers.0.self_attn.q_proj";
        var header = System.Text.Encoding.UTF8.GetBytes(
            $"{{\"{module}.lora_A.weight\":{{\"dtype\":\"F32\",\"shape\":[8,134217728],\"data_offsets\":[0,{huge}]}}," +
            $"\"{module}.lora_B.weight\":{{\"dtype\":\"F32\",\"shape\":[64,8],\"data_offsets\":[{huge},{huge + 64 * 8 * 4}]}}}}");
        await WriteSparseSafetensorsAsync(Path.Combine(dir, "adapter_model.safetensors"), header, huge + 64 * 8 * 4);
        var ex = await Fails(() => server.Inference.GenerateAsync(Request("x", "claims-4gib")).ResponseAsync, StatusCode.FailedPrecondition);
        Assert.Contains("larger than any module of the base model", ex.Status.Detail);
        Assert.Contains("lora_A", ex.Status.Detail);
    }

    [Fact]
    public async Task A_header_claiming_a_wrong_module_shape_is_refused_naming_the_tensor_before_any_data_is_read()
    {
        await using var server = await TestServer.StartAsync();
        var dir = Path.Combine(server.AdapterRoot, "off-by-one");
        TestServer.CopyDirectory(Path.Combine(server.AdapterRoot, "demo-r4"), dir);
        // Small enough for the whole-file bounds, but lora_A's input side is one column short of q_proj's: the header
        // alone says so, and the data (zeros of a sparse file) is never read.
        var config = Model.Config.ModelConfig.Load(server.Options.ModelPath);
        int hidden = config.HiddenSize, qOut = config.NumAttentionHeads * config.HeadDim;
        const string module = "base_model.model.model.layers.0.self_attn.q_proj";
        long aBytes = 4L * (hidden - 1) * 4, bBytes = (long)qOut * 4 * 4;
        var header = System.Text.Encoding.UTF8.GetBytes(
            $"{{\"{module}.lora_A.weight\":{{\"dtype\":\"F32\",\"shape\":[4,{hidden - 1}],\"data_offsets\":[0,{aBytes}]}}," +
            $"\"{module}.lora_B.weight\":{{\"dtype\":\"F32\",\"shape\":[{qOut},4],\"data_offsets\":[{aBytes},{aBytes + bBytes}]}}}}");
        await WriteSparseSafetensorsAsync(Path.Combine(dir, "adapter_model.safetensors"), header, aBytes + bBytes);
        var cfgPath = Path.Combine(dir, "adapter_config.json");
        var cfg = System.Text.Json.Nodes.JsonNode.Parse(await File.ReadAllTextAsync(cfgPath))!.AsObject();
        cfg["r"] = 4;
        cfg.Remove("rank_pattern");
        await File.WriteAllTextAsync(cfgPath, cfg.ToJsonString());
        var ex = await Fails(() => server.Inference.GenerateAsync(Request("x", "off-by-one")).ResponseAsync, StatusCode.FailedPrecondition);
        Assert.Contains($"tensor 'model.layers.0.self_attn.q_proj.lora_A.weight' claims shape [4, {hidden - 1}]", ex.Status.Detail);
        Assert.Contains("refused before reading it", ex.Status.Detail);
    }

    /// <summary>A safetensors file of <paramref name="header"/> and <paramref name="dataBytes"/> of zeros that take no disk (sparse).</summary>
    private static async Task WriteSparseSafetensorsAsync(string path, byte[] header, long dataBytes)
    {
        await using var file = new FileStream(path, FileMode.Create, FileAccess.Write);
        file.Write(BitConverter.GetBytes((ulong)header.Length));
        file.Write(header);
        file.SetLength(8 + header.Length + dataBytes);
    }

    [Fact]
    public async Task Callers_see_adapter_paths_relative_to_their_root_never_the_servers_folders()
    {
        await using var server = await TestServer.StartAsync();
        var broken = Path.Combine(server.AdapterRoot, "broken");
        TestServer.CopyDirectory(Path.Combine(server.AdapterRoot, "demo-r4"), broken);
        await File.WriteAllBytesAsync(Path.Combine(broken, "adapter_model.safetensors"), [1, 2, 3, 4, 5]);
        var ex = await Fails(() => server.Inference.GenerateAsync(Request("x", "broken")).ResponseAsync, StatusCode.FailedPrecondition);
        Assert.Contains("broken/adapter_model.safetensors", ex.Status.Detail);
        Assert.DoesNotContain(server.AdapterRoot, ex.Status.Detail);
        Assert.DoesNotContain(server.Options.ModelPath, ex.Status.Detail);

        var list = await server.Adapters.ListAsync(new ListAdaptersRequest());
        Assert.All(list.Adapters, a => Assert.False(Path.IsPathRooted(a.Source), a.Source));
        Assert.Equal("demo-r4", list.Adapters.Single(a => a.AdapterId == "demo-r4").Source);
    }

    [Fact]
    public async Task Undecodable_request_bytes_are_invalid_argument_and_the_server_keeps_serving()
    {
        await using var server = await TestServer.StartAsync();
        var raw = Marshallers.Create<byte[]>(b => b, b => b);
        var generate = new Method<byte[], byte[]>(MethodType.Unary, "lorasqueeze.v1.Inference", "Generate", raw, raw);
        var invoker = server.Channel.CreateCallInvoker();
        var valid = new GenerateRequest { Text = "hello world", AdapterId = "demo-r4" }.ToByteArray();
        byte[][] bad =
        [
            valid[..^3],                                   // truncated mid-field
            [0x0A, 0x02, 0xC3, 0x28],                      // field 1 (text): 2 bytes that are not UTF-8
        ];
        foreach (var bytes in bad)
        {
            var ex = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(generate, null, new CallOptions(), bytes).ResponseAsync);
            Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
            Assert.Contains("does not decode", ex.Status.Detail);
        }
        // A body over gRPC's 4 MiB receive limit is refused without being buffered whole.
        var huge = new GenerateRequest { Text = new string('a', 5 << 20) }.ToByteArray();
        var tooBig = await Assert.ThrowsAsync<RpcException>(() => invoker.AsyncUnaryCall(generate, null, new CallOptions(), huge).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, tooBig.StatusCode);
        // Valid bytes through the same raw path still generate.
        var reply = GenerateResponse.Parser.ParseFrom(await invoker.AsyncUnaryCall(generate, null, new CallOptions(),
            new GenerateRequest { Text = "hello", Sampling = new SamplingOptions { MaxTokens = 2 } }.ToByteArray()).ResponseAsync);
        Assert.NotEmpty(reply.TokenIds);
        // And streams are untouched.
        using var stream = server.Inference.GenerateStream(Request("still", maxTokens: 2));
        while (await stream.ResponseStream.MoveNext(CancellationToken.None)) { }
    }

    [Fact]
    public async Task The_queue_depth_gauge_follows_admissions_while_the_batch_is_busy()
    {
        SlowStepModel model = null!;
        await using var server = await TestServer.StartAsync(o =>
        {
            o.MaxBatch = 1;
            o.QueueLength = 8;
        }, m => model = new SlowStepModel(m, TimeSpan.FromMilliseconds(5)));
        // Greedy on this prompt the demo model never says EOS (CancellationTests), so each request runs 40 steps.
        // The engine is held after the step that admitted the first request, and again after the one that admitted
        // the second: the states asserted are then fixed while the test scrapes, not windows of a few hundred ms
        // that a loaded CI machine's thread pool can miss (a fresh-clone run failed this test that way).
        model.HoldAfterAdmissions(1);
        using var cts = new CancellationTokenSource();
        var calls = Enumerable.Range(0, 3)
            .Select(i => server.Inference.GenerateAsync(Request("hello hello hello hello", maxTokens: 40, temperature: 0), cancellationToken: cts.Token).ResponseAsync)
            .ToList();
        async Task<bool> Gauges(double waiting) =>
            await MetricsText.ReadAsync(server) is var m
            && MetricsText.Value(m, "lorasqueeze_queue_depth") == waiting && MetricsText.Value(m, "lorasqueeze_running_requests") == 1;
        try
        {
            await Eventually.True(() => Gauges(2));
            // The first finishes and the next is admitted while the batch stays busy: the gauge must say 1 now, not
            // keep the count of the last submission until the engine next goes idle.
            model.HoldAfterAdmissions(2);
            model.Resume();
            var first = await Task.WhenAny(calls);
            Assert.Equal(40, (await first).TokenIds.Count);
            await Eventually.True(() => Gauges(1));
            Assert.Equal(2, model.Admitted.Count);
        }
        finally
        {
            model.StopHolding();
            await cts.CancelAsync();
        }
        foreach (var call in calls)
        {
            try
            {
                await call;
            }
            catch (RpcException)
            {
                // Cancelled by the test.
            }
        }
    }

    [Fact]
    public async Task A_failed_load_is_remembered_until_its_files_change()
    {
        await using var server = await TestServer.StartAsync();
        var broken = Path.Combine(server.AdapterRoot, "broken");
        TestServer.CopyDirectory(Path.Combine(server.AdapterRoot, "demo-r4"), broken);
        var weights = Path.Combine(broken, "adapter_model.safetensors");
        var good = await File.ReadAllBytesAsync(weights);
        await File.WriteAllBytesAsync(weights, [1, 2, 3, 4, 5]);

        for (int i = 0; i < 3; i++)
        {
            var ex = await Fails(() => server.Inference.GenerateAsync(Request("x", "broken")).ResponseAsync, StatusCode.FailedPrecondition);
            Assert.Contains("adapter_model.safetensors", ex.Status.Detail);
        }
        var metrics = await MetricsText.ReadAsync(server);
        Assert.Equal(1, MetricsText.Value(metrics, "lorasqueeze_adapter_loads_total", ("result", "error")));          // read once
        Assert.Equal(2, MetricsText.Value(metrics, "lorasqueeze_adapter_loads_total", ("result", "remembered_error")));

        await File.WriteAllBytesAsync(weights, good);                                                              // fixed
        Assert.NotEmpty((await server.Inference.GenerateAsync(Request("x", "broken", maxTokens: 3))).TokenIds);
    }

    [Fact]
    public async Task A_prompt_longer_than_the_model_context_is_refused_before_its_adapter_loads()
    {
        // The demo model's context is 512 positions; the configured prompt limit is above it.
        await using var server = await TestServer.StartAsync(o => o.MaxPromptTokens = 1024);
        var request = new GenerateRequest { AdapterId = "demo-r4", Tokens = new TokenIds(), Sampling = new SamplingOptions { MaxTokens = 2 } };
        request.Tokens.Ids.AddRange(Enumerable.Repeat(5, 600));
        var ex = await Fails(() => server.Inference.GenerateAsync(request).ResponseAsync, StatusCode.InvalidArgument);
        Assert.Contains("the limit is 511", ex.Status.Detail);
        var metrics = await MetricsText.ReadAsync(server);
        Assert.Equal(0, MetricsText.Value(metrics, "lorasqueeze_adapter_loads_total"));
    }

    [Fact]
    public async Task A_burst_on_an_idle_server_counts_only_what_really_waits_against_the_queue()
    {
        // Two rows and a queue of four hold six requests: none of a burst of six may be refused.
        await using var server = await TestServer.StartAsync(o =>
        {
            o.MaxBatch = 2;
            o.QueueLength = 4;
        });
        var replies = await Task.WhenAll(Enumerable.Range(0, 6)
            .Select(i => server.Inference.GenerateAsync(Request($"burst {i}", maxTokens: 4)).ResponseAsync));
        Assert.All(replies, r => Assert.NotEmpty(r.TokenIds));
    }

    [Fact]
    public async Task An_adapter_folder_linking_outside_the_roots_is_not_listed_and_is_refused_by_id()
    {
        await using var server = await TestServer.StartAsync();
        var outside = Directory.CreateTempSubdirectory("lsq-outside-").FullName;
        try
        {
            TestServer.CopyDirectory(Path.Combine(server.AdapterRoot, "demo-r4"), Path.Combine(outside, "a"));
            Directory.CreateSymbolicLink(Path.Combine(server.AdapterRoot, "escape"), Path.Combine(outside, "a"));

            var list = await server.Adapters.ListAsync(new ListAdaptersRequest());
            Assert.DoesNotContain(list.Adapters, a => a.AdapterId == "escape");
            Assert.Contains(list.Adapters, a => a.AdapterId == "demo-r4");
            var get = await Fails(() => server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "escape" }).ResponseAsync, StatusCode.PermissionDenied);
            Assert.Contains("outside the adapter roots", get.Status.Detail);
            await Fails(() => server.Inference.GenerateAsync(Request("x", "escape")).ResponseAsync, StatusCode.PermissionDenied);
        }
        finally
        {
            Directory.Delete(outside, recursive: true);
        }
    }

    [Fact]
    public async Task An_adapter_file_linking_outside_the_roots_or_a_huge_config_is_refused_without_reading_it()
    {
        await using var server = await TestServer.StartAsync();
        var zero = Path.Combine(server.AdapterRoot, "zero");
        TestServer.CopyDirectory(Path.Combine(server.AdapterRoot, "demo-r4"), zero);
        File.Delete(Path.Combine(zero, "adapter_config.json"));
        File.CreateSymbolicLink(Path.Combine(zero, "adapter_config.json"), "/dev/zero");
        var ex = await Fails(() => server.Inference.GenerateAsync(Request("x", "zero")).ResponseAsync, StatusCode.FailedPrecondition);
        Assert.Contains("adapter_config.json links outside the adapter roots", ex.Status.Detail);

        var huge = Path.Combine(server.AdapterRoot, "huge");
        TestServer.CopyDirectory(Path.Combine(server.AdapterRoot, "demo-r4"), huge);
        var config = await File.ReadAllTextAsync(Path.Combine(huge, "adapter_config.json"));
        await File.WriteAllTextAsync(Path.Combine(huge, "adapter_config.json"), config.TrimEnd() + new string(' ', 2 << 20));
        var big = await Fails(() => server.Inference.GenerateAsync(Request("x", "huge")).ResponseAsync, StatusCode.FailedPrecondition);
        Assert.Contains("larger than 1048576 bytes", big.Status.Detail);

        Assert.NotEmpty((await server.Inference.GenerateAsync(Request("x", "demo-r4", maxTokens: 2))).TokenIds);
    }

    [Fact]
    public async Task The_admin_token_can_come_from_a_file()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, "s3cret-from-file\n");
        try
        {
            await using var server = await TestServer.StartAsync(o => o.AdminTokenFile = file);
            await Fails(() => server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "demo-r4" }).ResponseAsync, StatusCode.Unauthenticated);
            var ok = await server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "demo-r4" },
                new Metadata { { "authorization", "Bearer s3cret-from-file" } });
            Assert.Equal("demo-r4", ok.Adapter.AdapterId);
        }
        finally
        {
            File.Delete(file);
        }
        var both = await Assert.ThrowsAsync<ArgumentException>(() => TestServer.StartAsync(o =>
        {
            o.AdminToken = "x";
            o.AdminTokenFile = file;
        }));
        Assert.Contains("both", both.Message);
    }
}
