using LoraSqueeze.Testing;
using LoraSqueeze.Protos.V1;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// The committed demo (models/demo: the KJV-pre-trained base and the adapters trained by `lorasqueeze demo build`, of
/// every kind the trainer makes, In-Squeezed included) served by the real server: each adapter loads by id, squeezed
/// to the server's rank, and changes the output against the base model.
/// </summary>
public sealed class TrainedDemoTests
{
    private static string DemoDir() => Path.Combine(RepositoryFolder.Root, "models", "demo");

    [Fact]
    public async Task Every_trained_demo_adapter_loads_and_changes_the_output()
    {
        var demo = DemoDir();
        var ids = Directory.GetDirectories(Path.Combine(demo, "adapters")).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        Assert.True(ids.Count >= 6, $"expected at least 6 demo adapters, found {ids.Count}");
        await using var server = await TestServer.StartAsync(o =>
        {
            o.ModelPath = Path.Combine(demo, "model");
            o.AdapterRoots = [Path.Combine(demo, "adapters")];
            o.TargetRank = 8;
            o.Slots = 4;
        });
        var baseReply = await server.Inference.GenerateAsync(InferenceTests.Request("The fool", "", maxTokens: 12, temperature: 0f));
        foreach (var id in ids)
        {
            var reply = await server.Inference.GenerateAsync(InferenceTests.Request("The fool", id!, maxTokens: 12, temperature: 0f));
            Assert.True(reply.TokenIds.Count > 0, id);
            Assert.NotEqual(baseReply.TokenIds, reply.TokenIds);
            var info = await server.Adapters.GetAsync(new GetAdapterRequest { AdapterId = id });
            Assert.Equal(8, info.Squeeze.TargetRank);
            Assert.InRange(info.Squeeze.RetainedEnergy, 0.3, 1.0);
        }
    }
}
