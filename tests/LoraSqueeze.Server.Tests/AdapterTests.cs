using Grpc.Core;
using LoraSqueeze.Protos.V1;
using static LoraSqueeze.Server.Tests.InferenceTests;

namespace LoraSqueeze.Server.Tests;

/// <summary>Adapters RPCs and the tiers: load on first use, explicit load, hot-load, unload while in use, eviction.</summary>
public sealed class AdapterTests
{
    [Fact]
    public async Task First_use_loads_from_disk_once_then_hits_memory()
    {
        await using var server = await TestServer.StartAsync();
        var before = await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r16" });
        Assert.Equal(Tier.Disk, before.Tier);

        // Many concurrent first requests: one load.
        await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            server.Inference.GenerateAsync(Request($"p{i}", "demo-r16", maxTokens: 3)).ResponseAsync));

        var after = await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r16" });
        Assert.Equal(Tier.Device, after.Tier);
        Assert.False(after.Pinned);
        Assert.Equal(6, after.Hits);
        Assert.NotNull(after.LastUsed);
        Assert.Equal(DemoAssetsTestData.TargetRank, after.Squeeze.TargetRank);
        Assert.Equal([16], after.Squeeze.SourceRanks);
        Assert.InRange(after.Squeeze.RetainedEnergy, 0.01, 1.0);
        var metrics = await MetricsText.ReadAsync(server);
        Assert.Equal(1, MetricsText.Value(metrics, "lorasqueeze_adapter_loads_total", ("result", "ok")));
    }

    [Fact]
    public async Task Load_reports_the_squeeze_and_list_shows_memory_and_disk()
    {
        await using var server = await TestServer.StartAsync();
        var reply = await server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "demo-r4" });
        Assert.False(reply.AlreadyLoaded);
        var info = reply.Adapter;
        Assert.Equal(Tier.Host, info.Tier);
        Assert.Equal("lora", info.Squeeze.SourceKind);
        Assert.Equal([4], info.Squeeze.SourceRanks);
        Assert.Equal(DemoAssetsTestData.TargetRank, info.Squeeze.TargetRank);
        // Rank 4 under an 8-rank target is lossless.
        Assert.Equal(1.0, info.Squeeze.RetainedEnergy, 3);
        Assert.True(info.Bytes > 0);
        Assert.True(info.Squeeze.LoadSeconds > 0);

        var again = await server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "demo-r4" });
        Assert.True(again.AlreadyLoaded);

        var list = await server.Adapters.ListAsync(new ListAdaptersRequest());
        var ids = list.Adapters.Select(a => a.AdapterId).ToList();
        Assert.Contains("demo-r4", ids);
        Assert.Contains("demo-r16", ids);
        Assert.Equal(Tier.Host, list.Adapters.Single(a => a.AdapterId == "demo-r4").Tier);
        Assert.Equal(Tier.Disk, list.Adapters.Single(a => a.AdapterId == "demo-r16").Tier);
    }

    [Fact]
    public async Task Load_with_rank_override_and_a_source_path()
    {
        await using var server = await TestServer.StartAsync();
        var reply = await server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "small", Source = "demo-r16", Rank = 2 });
        Assert.Equal(2, reply.Adapter.Squeeze.TargetRank);
        Assert.True(reply.Adapter.Squeeze.RetainedEnergy < 1.0);
        var gen = await server.Inference.GenerateAsync(Request("x", "small", maxTokens: 4));
        Assert.NotEmpty(gen.TokenIds);
    }

    [Fact]
    public async Task Hot_load_while_serving()
    {
        await using var server = await TestServer.StartAsync();
        // A new adapter folder appears while requests run; it is loaded explicitly and used at once.
        TestServer.CopyDirectory(Path.Combine(server.AdapterRoot, "demo-r8"), Path.Combine(server.AdapterRoot, "fresh"));
        var background = Enumerable.Range(0, 8)
            .Select(i => server.Inference.GenerateAsync(Request($"busy {i}", i % 2 == 0 ? "demo-r4" : "", maxTokens: 24)).ResponseAsync)
            .ToList();
        var load = await server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "fresh" });
        var fresh = await server.Inference.GenerateAsync(Request("hi", "fresh", maxTokens: 6, temperature: 0));
        var viaOriginal = await server.Inference.GenerateAsync(Request("hi", "demo-r8", maxTokens: 6, temperature: 0));
        await Task.WhenAll(background);

        Assert.False(load.AlreadyLoaded);
        Assert.Equal(viaOriginal.TokenIds, fresh.TokenIds);
        Assert.All(background, t => Assert.NotEmpty(t.Result.TokenIds));
    }

    [Fact]
    public async Task Unload_of_an_adapter_in_use_waits_for_its_running_requests()
    {
        // Slow steps keep the request running (64 tokens, over a second) while the test looks at it and unloads; at
        // full speed it could finish before the Get below.
        await using var server = await TestServer.StartAsync(wrapModel: m => new SlowStepModel(m, TimeSpan.FromMilliseconds(20)));
        using var call = server.Inference.GenerateStream(Request("long one", "demo-r8", maxTokens: 64, temperature: 0));
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        var pinned = await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r8" });
        Assert.True(pinned.Pinned);

        var unload = server.Adapters.UnloadAsync(new UnloadAdapterRequest { AdapterId = "demo-r8" }).ResponseAsync;
        var reply = await unload;
        // The running request was not cut off: every message is there and it finished on its own.
        var messages = new List<GenerateStreamResponse> { call.ResponseStream.Current };
        while (await call.ResponseStream.MoveNext(CancellationToken.None)) messages.Add(call.ResponseStream.Current);

        Assert.True(reply.Unloaded);
        Assert.Contains(messages[^1].FinishReason, new[] { FinishReason.Length, FinishReason.Eos });
        var after = await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r8" });
        Assert.Equal(Tier.Disk, after.Tier);
        // Still on disk under the root: the next request loads it again.
        Assert.NotEmpty((await server.Inference.GenerateAsync(Request("again", "demo-r8", maxTokens: 3))).TokenIds);
    }

    /// <summary>
    /// Two device slots and a 99.9 % energy floor with a cap of 2, so the rank-16 demo adapter takes both slots of rank 8
    /// and the others one; with <paramref name="slowSteps"/> a generation outlasts the test's waits; <paramref name="load"/>
    /// is loaded first so no load races the requests.
    /// </summary>
    private static async Task<TestServer> TwoSlotFloorServer(bool slowSteps, string[] load)
    {
        var server = await TestServer.StartAsync(o =>
        {
            o.Slots = 2;
            o.MinRetainedEnergy = 0.999;
            o.MaxSlotsPerAdapter = 2;
        }, wrapModel: slowSteps ? m => new SlowStepModel(m, TimeSpan.FromMilliseconds(20)) : null);
        foreach (var id in load) await server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = id });
        return server;
    }

    /// <summary>
    /// A multi-slot adapter is not starved by one-slot ones: with 2 slots, one leased by a long generation, the 2-slot
    /// adapter (the rank-16 demo adapter under a 99.9 % floor) waits, and a one-slot adapter not yet on the device, asked
    /// for after it, waits behind it instead of taking the free slot (which would leave the 2-slot one waiting as long as
    /// it stays busy).
    /// </summary>
    [Fact]
    public async Task A_multi_slot_adapter_is_installed_before_one_slot_adapters_that_came_after_it()
    {
        await using var server = await TwoSlotFloorServer(slowSteps: true, load: ["demo-r4", "demo-r8", "demo-r16"]);
        Assert.Equal(2, (await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r16" })).Squeeze.SlotCount);

        using var longRun = server.Inference.GenerateStream(Request("long one", "demo-r4", maxTokens: 40, temperature: 0));
        Assert.True(await longRun.ResponseStream.MoveNext(CancellationToken.None));     // demo-r4 holds a slot, leased
        var twoSlot = server.Inference.GenerateAsync(Request("two slots", "demo-r16", maxTokens: 4, temperature: 0)).ResponseAsync;
        await Task.Delay(300);                                                           // queued and gathering
        Assert.False(twoSlot.IsCompleted);
        var oneSlot = server.Inference.GenerateAsync(Request("one slot", "demo-r8", maxTokens: 4, temperature: 0)).ResponseAsync;
        var first = await Task.WhenAny(twoSlot, oneSlot);
        Assert.Same(twoSlot, first);
        Assert.NotEmpty((await twoSlot).TokenIds);
        Assert.NotEmpty((await oneSlot).TokenIds);
        while (await longRun.ResponseStream.MoveNext(CancellationToken.None)) { }
    }

    /// <summary>
    /// No deadlock between a gathering multi-slot adapter and a resident one: while the 2-slot adapter waits for the slot a
    /// running demo-r4 generation holds, a second demo-r4 request arrives (its lease pins that slot too). It must still be
    /// served — if it waited behind the gatherer, each would wait for the other for ever — and then the 2-slot adapter
    /// gets both slots. The bound only detects a hang; these requests take well under a second each.
    /// </summary>
    [Fact]
    public async Task A_gathering_multi_slot_adapter_does_not_deadlock_requests_on_a_resident_adapter()
    {
        await using var server = await TwoSlotFloorServer(slowSteps: true, load: ["demo-r4", "demo-r16"]);
        using var longRun = server.Inference.GenerateStream(Request("long one", "demo-r4", maxTokens: 20, temperature: 0));
        Assert.True(await longRun.ResponseStream.MoveNext(CancellationToken.None));
        var twoSlot = server.Inference.GenerateAsync(Request("two slots", "demo-r16", maxTokens: 4, temperature: 0)).ResponseAsync;
        await Task.Delay(300);
        var again = server.Inference.GenerateAsync(Request("same adapter", "demo-r4", maxTokens: 4, temperature: 0)).ResponseAsync;
        var all = Task.WhenAll(twoSlot, again);
        Assert.Same(all, await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(60))));
        Assert.NotEmpty((await twoSlot).TokenIds);
        Assert.NotEmpty((await again).TokenIds);
        while (await longRun.ResponseStream.MoveNext(CancellationToken.None)) { }
    }

    /// <summary>
    /// Unloading a multi-slot adapter frees every slot of its group (the gauges say so), and the freed slots serve other
    /// adapters; a multi-slot adapter evicts a one-slot one when it needs the room, and reloads on its next request.
    /// </summary>
    [Fact]
    public async Task A_multi_slot_adapter_frees_all_its_slots_on_unload_and_on_eviction()
    {
        await using var server = await TwoSlotFloorServer(slowSteps: false, load: []);
        async Task<double> SlotsUsed() => MetricsText.Value(await MetricsText.ReadAsync(server), "lorasqueeze_adapter_slots_used");
        Assert.NotEmpty((await server.Inference.GenerateAsync(Request("x", "demo-r16", maxTokens: 3, temperature: 0))).TokenIds);
        var held = await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r16" });
        Assert.Equal(Tier.Device, held.Tier);
        Assert.Equal([0, 1], held.Slots);
        Assert.Equal(2, await SlotsUsed());

        Assert.True((await server.Adapters.UnloadAsync(new UnloadAdapterRequest { AdapterId = "demo-r16" })).Unloaded);
        Assert.Equal(0, await SlotsUsed());
        Assert.NotEmpty((await server.Inference.GenerateAsync(Request("x", "demo-r4", maxTokens: 3, temperature: 0))).TokenIds);
        Assert.NotEmpty((await server.Inference.GenerateAsync(Request("x", "demo-r8", maxTokens: 3, temperature: 0))).TokenIds);
        Assert.Equal(2, await SlotsUsed());   // one slot each

        // demo-r16 again: it needs both slots, so both one-slot adapters (unleased) are evicted.
        Assert.NotEmpty((await server.Inference.GenerateAsync(Request("x", "demo-r16", maxTokens: 3, temperature: 0))).TokenIds);
        Assert.Equal(2, (await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r16" })).Slots.Count);
        Assert.NotEqual(Tier.Device, (await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r4" })).Tier);
        Assert.NotEqual(Tier.Device, (await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r8" })).Tier);
        // And a one-slot adapter takes one of them back, evicting the group whole.
        Assert.NotEmpty((await server.Inference.GenerateAsync(Request("x", "demo-r4", maxTokens: 3, temperature: 0))).TokenIds);
        Assert.Empty((await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r16" })).Slots);
        Assert.Equal(1, await SlotsUsed());
    }

    [Fact]
    public async Task Tiny_budgets_evict_least_recently_used_and_reload_from_disk()
    {
        // Host cache holds about one squeezed adapter, and there is one device slot.
        await using var probe = await TestServer.StartAsync();
        long oneAdapter = (await probe.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "demo-r4" })).Adapter.Bytes;
        await probe.DisposeAsync();

        await using var server = await TestServer.StartAsync(o =>
        {
            o.Slots = 1;
            o.HostCacheBytes = oneAdapter + oneAdapter / 2;
        });
        var first = await server.Inference.GenerateAsync(Request("x", "demo-r4", maxTokens: 4, temperature: 0));
        await server.Inference.GenerateAsync(Request("x", "demo-r8", maxTokens: 4));
        await server.Inference.GenerateAsync(Request("x", "demo-r16", maxTokens: 4));

        // Host evictions are released on the engine thread shortly after the callback; wait for that.
        await Eventually.True(async () =>
            (await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r4" })).Tier == Tier.Disk);
        var r16 = await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = "demo-r16" });
        Assert.Equal(Tier.Device, r16.Tier);

        var metrics = await MetricsText.ReadAsync(server);
        Assert.True(MetricsText.Value(metrics, "lorasqueeze_adapter_evictions_total", ("tier", "host")) >= 1);
        Assert.True(MetricsText.Value(metrics, "lorasqueeze_adapter_evictions_total", ("tier", "device")) >= 2);
        Assert.True(MetricsText.Value(metrics, "lorasqueeze_adapter_bytes", ("tier", "host")) <= server.Options.HostCacheBytes);

        // Evicted to disk, it loads again and gives the same answer.
        var reloaded = await server.Inference.GenerateAsync(Request("x", "demo-r4", maxTokens: 4, temperature: 0));
        Assert.Equal(first.TokenIds, reloaded.TokenIds);
        Assert.Equal(4, MetricsText.Value(await MetricsText.ReadAsync(server), "lorasqueeze_adapter_loads_total", ("result", "ok")));
    }

    [Fact]
    public async Task More_adapters_than_slots_concurrently_give_the_same_replies_as_alone()
    {
        // One slot for three adapters: the burst forces evictions, and each request must keep its adapter in the
        // slot from its first step to its last. Were it evicted mid-request, later tokens would come from another
        // adapter's weights and differ from the same seeded request run alone. Slow steps make the requests overlap.
        await using var server = await TestServer.StartAsync(o => o.Slots = 1,
            m => new SlowStepModel(m, TimeSpan.FromMilliseconds(3)));
        string[] ids = ["demo-r4", "demo-r8", "demo-r16", ""];
        var requests = Enumerable.Range(0, 12)
            .Select(i => Request($"q{i} once upon a time", ids[i % ids.Length], maxTokens: 12, seed: (ulong)(40 + i)))
            .ToList();

        var alone = new List<GenerateResponse>();
        foreach (var r in requests) alone.Add(await server.Inference.GenerateAsync(r));
        double evictionsBefore = MetricsText.Value(await MetricsText.ReadAsync(server), "lorasqueeze_adapter_evictions_total", ("tier", "device"));

        var together = await Task.WhenAll(requests.Select(r => server.Inference.GenerateAsync(r).ResponseAsync));

        for (int i = 0; i < requests.Count; i++)
        {
            Assert.Equal(alone[i].TokenIds, together[i].TokenIds);
            Assert.Equal(alone[i].Text, together[i].Text);
        }
        // The burst really swapped adapters through the one slot.
        double evictions = MetricsText.Value(await MetricsText.ReadAsync(server), "lorasqueeze_adapter_evictions_total", ("tier", "device"))
            - evictionsBefore;
        Assert.True(evictions >= 2, $"{evictions} device evictions during the burst");
    }

    [Fact]
    public async Task Device_slots_evict_the_least_recently_used_adapter()
    {
        await using var server = await TestServer.StartAsync(o => o.Slots = 2);
        async Task Use(string id) => await server.Inference.GenerateAsync(Request("x", id, maxTokens: 2));
        async Task<Tier> TierOf(string id) => (await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = id })).Tier;

        await Use("demo-r4");
        await Use("demo-r8");
        await Use("demo-r4"); // r4 is now more recent than r8
        await Use("demo-r16"); // needs a slot: r8's goes

        Assert.Equal(Tier.Device, await TierOf("demo-r4"));
        Assert.Equal(Tier.Host, await TierOf("demo-r8"));
        Assert.Equal(Tier.Device, await TierOf("demo-r16"));
    }

    [Fact]
    public async Task Host_cache_evicts_the_least_recently_used_adapter()
    {
        await using var probe = await TestServer.StartAsync();
        long oneAdapter = (await probe.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "demo-r4" })).Adapter.Bytes;
        await probe.DisposeAsync();

        // Room for two squeezed adapters (all have the slot rank, so the same size) in the host tier.
        await using var server = await TestServer.StartAsync(o =>
        {
            o.Slots = 1;
            o.HostCacheBytes = 2 * oneAdapter + oneAdapter / 2;
        });
        async Task<Tier> TierOf(string id) => (await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = id })).Tier;

        await server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "demo-r4" });
        await server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "demo-r8" });
        // Touch r4 (it also takes the one device slot); r8 is now the least recently used.
        await server.Inference.GenerateAsync(Request("x", "demo-r4", maxTokens: 2));
        await server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "demo-r16" });

        // Host eviction frees r8's copy on the engine thread shortly after.
        await Eventually.True(async () => await TierOf("demo-r8") == Tier.Disk);
        Assert.Equal(Tier.Host, await TierOf("demo-r16"));
        // r4 kept its host copy: pushed out of the device slot by r16 it falls back to the host tier, not to disk.
        await server.Inference.GenerateAsync(Request("x", "demo-r16", maxTokens: 2));
        Assert.Equal(Tier.Device, await TierOf("demo-r16"));
        Assert.Equal(Tier.Host, await TierOf("demo-r4"));
        var metrics = await MetricsText.ReadAsync(server);
        Assert.Equal(1, MetricsText.Value(metrics, "lorasqueeze_adapter_evictions_total", ("tier", "host")));
        Assert.Equal(3, MetricsText.Value(metrics, "lorasqueeze_adapter_loads_total", ("result", "ok")));
    }
}

internal static class DemoAssetsTestData
{
    public const int TargetRank = Testing.DemoAssets.TargetRank;
}
