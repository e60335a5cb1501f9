using System.Diagnostics;

namespace LoraSqueeze.LoadTest.Running;

/// <summary>
/// Throughput in the saturated middle of a closed-loop run, from the server's own token counter: it reads the counter
/// when <see cref="FromFraction"/> of the sending window has passed (the ramp-up is over: every client has a request in
/// flight) and again when sending stops (still saturated: the last requests are all in flight), and divides. The
/// end-to-end figure (tokens of completed requests over first send → last completion) also counts the ramp-up and the
/// drain, where the batch empties one request at a time; on 20–60 s windows with ~100 requests that tail moves the
/// figure by ±10 % between identical runs (docs/performance.md), the steady window much less.
/// </summary>
public sealed class SteadyStateProbe(Func<CancellationToken, Task<double>> readGeneratedTokens, double fromFraction = 0.25)
{
    public double FromFraction { get; } = fromFraction is > 0 and < 1 ? fromFraction
        : throw new ArgumentOutOfRangeException(nameof(fromFraction), fromFraction, "must be in (0, 1)");

    /// <summary>Generated tokens per second inside the window; null when the window was not saturated throughout (the run
    /// hit its request cap or was cancelled before sending stopped, or a read failed).</summary>
    public double? OutputTokensPerSecond { get; private set; }

    /// <summary>Length of the measured window in seconds (0 when none).</summary>
    public double WindowSeconds { get; private set; }

    internal async Task RunAsync(Stopwatch clock, TimeSpan duration, Func<bool> stoppedEarly, CancellationToken ct)
    {
        try
        {
            await DelayUntil(clock, duration * FromFraction, ct);
            if (stoppedEarly()) return;
            double t0 = clock.Elapsed.TotalSeconds, g0 = await readGeneratedTokens(ct);
            await DelayUntil(clock, duration, ct);
            if (stoppedEarly()) return;
            double t1 = clock.Elapsed.TotalSeconds, g1 = await readGeneratedTokens(ct);
            if (t1 <= t0) return;
            WindowSeconds = t1 - t0;
            OutputTokensPerSecond = (g1 - g0) / WindowSeconds;
        }
        catch (Exception ex) when (ex is HttpRequestException or OperationCanceledException or FormatException)
        {
            OutputTokensPerSecond = null; // no steady figure; the end-to-end one still stands
        }
    }

    private static async Task DelayUntil(Stopwatch clock, TimeSpan at, CancellationToken ct)
    {
        var wait = at - clock.Elapsed;
        if (wait > TimeSpan.Zero) await Task.Delay(wait, ct);
    }
}
