using Grpc.Core;
using LoraSqueeze.Model;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// The padded layout (vLLM/SGLang: slots of a maximum rank, adapters at their own rank, zero-padded) used by the load
/// test's comparison. When an adapter's source rank is at most the uniform target rank, squeezing is exact in both
/// layouts, so the two servers must produce the same greedy tokens; only the work per step differs.
/// </summary>
public sealed class PaddedLayoutTests
{
    [Fact]
    public async Task Padded_server_gives_the_same_greedy_tokens_as_the_uniform_one_for_ranks_up_to_the_target()
    {
        await using var uniform = await TestServer.StartAsync();
        await using var padded = await TestServer.StartAsync(o =>
        {
            o.LoraLayout = LoraLayout.Padded;
            o.PaddedMaxRank = 32;
        });
        foreach (var adapter in new[] { "demo-r4", "demo-r8", "" })
        {
            var request = InferenceTests.Request("the quick brown fox", adapter, maxTokens: 12, seed: null, temperature: 0);
            var a = await uniform.Inference.GenerateAsync(request);
            var b = await padded.Inference.GenerateAsync(request);
            Assert.Equal(a.TokenIds, b.TokenIds);
        }

        // The padded server keeps each adapter at its own rank (exact): the load reports the source rank as target.
        var info = await padded.Adapters.GetAsync(new Protos.V1.GetAdapterRequest { AdapterId = "demo-r4" });
        Assert.Equal(4, info.Squeeze.TargetRank);
    }

    [Fact]
    public async Task Padded_server_refuses_an_adapter_above_its_slot_rank()
    {
        await using var padded = await TestServer.StartAsync(o =>
        {
            o.LoraLayout = LoraLayout.Padded;
            o.PaddedMaxRank = 8;
        });
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await padded.Inference.GenerateAsync(InferenceTests.Request("hello", "demo-r16", maxTokens: 2)));
        Assert.Equal(StatusCode.FailedPrecondition, ex.StatusCode);
        Assert.Contains("padded slot rank 8", ex.Status.Detail, StringComparison.Ordinal);

        // The server keeps serving everyone else.
        var ok = await padded.Inference.GenerateAsync(InferenceTests.Request("hello", "demo-r8", maxTokens: 2));
        Assert.NotEmpty(ok.TokenIds);
    }
}
