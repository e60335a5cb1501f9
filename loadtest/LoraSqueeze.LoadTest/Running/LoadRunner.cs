using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Grpc.Net.Client;
using LoraSqueeze.LoadTest.Workload;
using LoraSqueeze.Protos.V1;

namespace LoraSqueeze.LoadTest.Running;

/// <summary>
/// Drives one server with one workload: open loop (Poisson arrivals) or closed loop (fixed concurrency), bounded by
/// duration and request count, then drains what is in flight. Every request streams (GenerateStream) so the time to the
/// first token is measured at the client. Sampling is greedy so the work does not depend on random draws.
/// </summary>
public sealed class LoadRunner(Uri target, TextWriter? progress = null)
{
    private readonly Uri _target = target;

    /// <summary>Runs the load; <paramref name="onMeasuredStart"/> runs after the warm-up, just before the measured window.</summary>
    public async Task<IReadOnlyList<RequestResult>> RunAsync(WorkloadSpec workload, LoadOptions options,
        Func<Task>? onMeasuredStart = null, SteadyStateProbe? steady = null, CancellationToken ct = default)
    {
        options.Validate();
        LoopbackGuard.Check(_target.ToString());
        using var channel = GrpcChannel.ForAddress(_target, new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
        });
        var client = new Inference.InferenceClient(channel);
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
                        results.Add(await SendAsync(client, request, clock, options, drain.Token));
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
                inFlight.Add(Task.Run(async () => results.Add(await SendAsync(client, request, clock, options, drain.Token)), CancellationToken.None));
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

    private static async Task WarmUpAsync(Inference.InferenceClient client, WorkloadSpec workload, LoadOptions options, CancellationToken ct)
    {
        var warm = new RequestGenerator(workload with { AdapterIds = [], Seed = workload.Seed + 1 });
        var clock = Stopwatch.StartNew();
        var requests = Enumerable.Range(0, options.WarmupRequests).Select(_ => warm.Next()).ToList();
        if (options.WarmupAdapter.Length > 0) requests.Insert(0, warm.Next() with { AdapterId = options.WarmupAdapter });
        foreach (var request in requests)
        {
            var r = await SendAsync(client, request, clock, options, ct);
            if (!r.Ok) throw new InvalidOperationException($"warm-up request failed with {r.Status}; is the server up?");
        }
    }

    internal static async Task<RequestResult> SendAsync(Inference.InferenceClient client, PlannedRequest request, Stopwatch clock,
        LoadOptions options, CancellationToken ct)
    {
        var message = new GenerateRequest
        {
            Tokens = new TokenIds(),
            AdapterId = request.AdapterId,
            Sampling = new SamplingOptions { MaxTokens = request.MaxTokens, Temperature = 0 },
        };
        message.Tokens.Ids.AddRange(request.PromptTokens);
        double start = clock.Elapsed.TotalSeconds;
        double? ttft = null;
        int completion = 0, promptTokens = 0;
        string status = "OK";
        try
        {
            using var call = client.GenerateStream(message, deadline: DateTime.UtcNow + options.RequestDeadline, cancellationToken: ct);
            await foreach (var piece in call.ResponseStream.ReadAllAsync(ct))
            {
                if (ttft is null && piece.TokenIds.Count > 0) ttft = clock.Elapsed.TotalSeconds - start;
                completion += piece.TokenIds.Count;
                if (piece.Usage is { } usage)
                {
                    promptTokens = usage.PromptTokens;
                    completion = usage.CompletionTokens;
                }
            }
        }
        catch (RpcException ex)
        {
            status = ex.StatusCode.ToString();
        }
        catch (OperationCanceledException)
        {
            status = nameof(StatusCode.Cancelled);
        }
        if (status != "OK") completion = 0;
        return new RequestResult(request.Index, request.AdapterId, start, clock.Elapsed.TotalSeconds, ttft,
            promptTokens == 0 ? request.PromptTokens.Length : promptTokens, completion, status);
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
