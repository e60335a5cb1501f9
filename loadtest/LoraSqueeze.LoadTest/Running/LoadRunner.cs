using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using LoraSqueeze.LoadTest.Workload;

namespace LoraSqueeze.LoadTest.Running;

/// <summary>
/// Drives one server with one workload: open loop (Poisson arrivals) or closed loop (fixed concurrency), bounded by
/// duration and request count, then drains what is in flight. Every request streams (gRPC GenerateStream, or the
/// OpenAI API's streamed completions: <see cref="ILoadTarget"/>) so the time to the first token is measured at the
/// client. Sampling is greedy so the work does not depend on random draws.
/// </summary>
public sealed class LoadRunner(Uri target, TextWriter? progress = null, LoadApi api = LoadApi.Grpc, string baseModel = "")
{
    private readonly Uri _target = target;

    private ILoadTarget CreateTarget() => api == LoadApi.OpenAi ? new OpenAiLoadTarget(_target, baseModel) : new GrpcLoadTarget(_target);

    /// <summary>Runs the load; <paramref name="onMeasuredStart"/> runs after the warm-up, just before the measured window.</summary>
    public async Task<IReadOnlyList<RequestResult>> RunAsync(WorkloadSpec workload, LoadOptions options,
        Func<Task>? onMeasuredStart = null, SteadyStateProbe? steady = null, CancellationToken ct = default)
    {
        options.Validate();
        LoopbackGuard.Check(_target.ToString());
        using var client = CreateTarget();
        await WarmUpAsync(client, workload, options, ct);
        if (onMeasuredStart is not null) await onMeasuredStart();

        var generator = new RequestGenerator(workload);
        var results = new ConcurrentBag<RequestResult>();
        var clock = Stopwatch.StartNew();
        using var drain = CancellationTokenSource.CreateLinkedTokenSource(ct);
        int sent = 0;
        var sendLock = new Lock();
        PlannedRequest? TakeNext()
        {
            lock (sendLock)
            {
                if (sent >= options.MaxRequests || clock.Elapsed >= options.Duration || ct.IsCancellationRequested) return null;
                sent++;
                return generator.Next();
            }
        }

        using var progressTimer = StartProgress(options, clock, () => Volatile.Read(ref sent), results);
        // Only a closed loop keeps the server saturated for the whole window; an open loop's steady figure is its rate.
        var steadyTask = steady is not null && options.Mode == LoadMode.Closed
            ? steady.RunAsync(clock, options.Duration, () => Volatile.Read(ref sent) >= options.MaxRequests || ct.IsCancellationRequested, ct)
            : Task.CompletedTask;
        var inFlight = new List<Task>();
        if (options.Mode == LoadMode.Closed)
        {
            for (int c = 0; c < options.Concurrency; c++)
            {
                inFlight.Add(Task.Run(async () =>
                {
                    while (TakeNext() is { } request)
                        results.Add(await client.SendAsync(request, clock, options, drain.Token));
                }, CancellationToken.None));
            }
        }
        else
        {
            var arrivals = new PoissonArrivals(options.Rate);
            var gaps = new Random(workload.Seed ^ 0x5EED);
            double due = 0;
            while (true)
            {
                due += arrivals.NextGap(gaps);
                var wait = TimeSpan.FromSeconds(due) - clock.Elapsed;
                if (due >= options.Duration.TotalSeconds) break;
                if (wait > TimeSpan.Zero)
                {
                    try
                    {
                        await Task.Delay(wait, ct);
                    }
                    catch (OperationCanceledException)
                    {
                        break;
                    }
                }
                if (TakeNext() is not { } request) break;
                inFlight.Add(Task.Run(async () => results.Add(await client.SendAsync(request, clock, options, drain.Token)), CancellationToken.None));
            }
        }

        // Drain: let running requests finish, but never wait forever.
        var all = Task.WhenAll(inFlight);
        if (await Task.WhenAny(all, Task.Delay(options.DrainTimeout + (options.Duration - clock.Elapsed).Duration(), CancellationToken.None)) != all)
            await drain.CancelAsync();
        await all;
        await steadyTask;
        progress?.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"  done: {results.Count} requests in {clock.Elapsed.TotalSeconds:F1} s"));
        return [.. results.OrderBy(r => r.Index)];
    }

    private static async Task WarmUpAsync(ILoadTarget client, WorkloadSpec workload, LoadOptions options, CancellationToken ct)
    {
        var warm = new RequestGenerator(workload with { AdapterIds = [], Seed = workload.Seed + 1 });
        var clock = Stopwatch.StartNew();
        var requests = Enumerable.Range(0, options.WarmupRequests).Select(_ => warm.Next()).ToList();
        if (options.WarmupAdapter.Length > 0) requests.Insert(0, warm.Next() with { AdapterId = options.WarmupAdapter });
        foreach (var request in requests)
        {
            var r = await client.SendAsync(request, clock, options, ct);
            if (!r.Ok) throw new InvalidOperationException($"warm-up request failed with {r.Status}; is the server up?");
        }
    }

    private Timer? StartProgress(LoadOptions options, Stopwatch clock, Func<int> sent, ConcurrentBag<RequestResult> results)
    {
        if (progress is null || options.ProgressInterval <= TimeSpan.Zero) return null;
        return new Timer(_ =>
        {
            var done = results.ToArray();
            double t = clock.Elapsed.TotalSeconds;
            int errors = done.Count(r => !r.Ok);
            long tokens = done.Sum(r => (long)r.CompletionTokens);
            progress.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {t,6:F1} s  sent {sent(),5}  done {done.Length,5}  errors {errors,3}  in flight {sent() - done.Length,3}  " +
                $"{done.Length / t,6:F2} req/s  {tokens / t,7:F1} tok/s"));
        }, null, options.ProgressInterval, options.ProgressInterval);
    }
}
