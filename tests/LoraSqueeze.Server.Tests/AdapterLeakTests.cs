using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Protos.V1;
using static LoraSqueeze.Server.Tests.InferenceTests;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// Memory is given back: whatever loads, unloads, requests and races ran, once no adapter is registered the host tier
/// holds 0 adapters and 0 bytes and no device slot is used.
/// </summary>
public sealed class AdapterLeakTests
{
    /// <summary>The real loader, held at a gate so a test can act while a load is in flight.</summary>
    private sealed class GatedLoader(IAdapterLoader inner) : IAdapterLoader
    {
        public SemaphoreSlim Gate { get; } = new(0);
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public (LoraWeights Weights, AdapterLoadInfo Info) Load(string adapterId, string directory, int targetRank)
        {
            Entered.TrySetResult();
            Gate.Wait(TimeSpan.FromSeconds(30));
            return inner.Load(adapterId, directory, targetRank);
        }
    }

    private static async Task AssertNothingHeld(TestServer server)
    {
        // Frees run on the engine thread just after the replies; give them a moment.
        await Eventually.True(async () =>
        {
            var m = await MetricsText.ReadAsync(server);
            return MetricsText.Value(m, "lorasqueeze_adapters", ("tier", "host")) == 0
                && MetricsText.Value(m, "lorasqueeze_adapter_bytes", ("tier", "host")) == 0
                && MetricsText.Value(m, "lorasqueeze_adapter_slots_used") == 0;
        });
        var list = await server.Adapters.ListAsync(new ListAdaptersRequest());
        Assert.All(list.Adapters, a => Assert.Equal(Tier.Disk, a.Tier));
    }

    [Fact]
    public async Task An_unload_is_logged_once()
    {
        var logs = new CapturingLoggerProvider();
        await using var server = await TestServer.StartAsync(logs: logs);
        await server.Inference.GenerateAsync(Request("x", "demo-r4", maxTokens: 2));       // in a slot and the host tier
        Assert.True((await server.Adapters.UnloadAsync(new UnloadAdapterRequest { AdapterId = "demo-r4" })).Unloaded);
        await Task.Delay(200);                                                                  // any late duplicate
        Assert.Single(logs.Messages, m => m == "Adapter demo-r4 unloaded");
    }

    [Fact]
    public async Task Unloading_an_adapter_while_its_load_runs_leaves_nothing_held()
    {
        GatedLoader? gated = null;
        await using var server = await TestServer.StartAsync(wrapLoader: l => gated = new GatedLoader(l));
        var load = server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = "demo-r4" }).ResponseAsync;
        await gated!.Entered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var unload = server.Adapters.UnloadAsync(new UnloadAdapterRequest { AdapterId = "demo-r4" }).ResponseAsync;
        await Task.Delay(50);
        Assert.False(unload.IsCompleted);                  // it waits for the load's lease
        gated.Gate.Release();
        await load;
        Assert.True((await unload).Unloaded);
        await AssertNothingHeld(server);
    }

    [Fact]
    public async Task After_churn_and_unloading_every_id_the_host_tier_and_slots_are_empty()
    {
        await using var server = await TestServer.StartAsync(o => o.Slots = 2);
        string[] ids = ["demo-r4", "demo-r8", "demo-r16"];
        var clients = Enumerable.Range(0, 6).Select(c => Task.Run(async () =>
        {
            var random = new Random(c);
            for (int i = 0; i < 25; i++)
            {
                var id = ids[random.Next(ids.Length)];
                try
                {
                    switch (random.Next(3))
                    {
                        case 0: await server.Adapters.LoadAsync(new LoadAdapterRequest { AdapterId = id }); break;
                        case 1: await server.Adapters.UnloadAsync(new UnloadAdapterRequest { AdapterId = id }); break;
                        default: await server.Inference.GenerateAsync(Request($"c{c} {i}", id, maxTokens: 2)); break;
                    }
                }
                catch (global::Grpc.Core.RpcException ex) when (ex.StatusCode == global::Grpc.Core.StatusCode.NotFound)
                {
                    // Unload of an id another client unloaded first (it is still on disk, so Get finds it; a race).
                }
            }
        })).ToList();
        await Task.WhenAll(clients);
        foreach (var id in ids) await server.Adapters.UnloadAsync(new UnloadAdapterRequest { AdapterId = id });
        await AssertNothingHeld(server);
    }
}
