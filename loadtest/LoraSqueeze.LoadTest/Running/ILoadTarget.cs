using System.Diagnostics;
using LoraSqueeze.LoadTest.Workload;

namespace LoraSqueeze.LoadTest.Running;

/// <summary>
/// One way of sending a planned request and timing it at the client: every request streams, TTFT is the first piece
/// carrying a token, sampling is greedy. <see cref="RequestResult.Status"/> is "OK" or the door's own failure name.
/// </summary>
public interface ILoadTarget : IDisposable
{
    Task<RequestResult> SendAsync(PlannedRequest request, Stopwatch clock, LoadOptions options, CancellationToken ct);
}
