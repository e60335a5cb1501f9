namespace LoraSqueeze.Model.Kernels;

/// <summary>
/// The fork/join the CPU kernels split a decode step's work with: persistent worker threads that spin briefly between
/// calls before they sleep. A decode step runs ~30 kernel calls a few tens of microseconds apart; with
/// <c>Parallel.For</c> each call woke a sleeping thread-pool thread (perf of a batch-1 h1024 step: 9 % of the time in the
/// kernel's context switches, 4 % in sched_yield), while a worker still spinning from the previous call starts at once.
/// Workers give up spinning after <see cref="SpinTicks"/> and block, so an idle server costs nothing. The caller
/// runs part 0 itself. One pool per process (the engine thread owns the model; kernels never nest). Hand-written: the
/// BCL's pools have no spin-then-block hand-off for this grain, and llama.cpp's ggml threadpool works the same way.
/// </summary>
public sealed class KernelPool
{
    /// <summary>
    /// How long an idle worker spins before it sleeps: longer than the gaps between a decode step's kernel calls (the
    /// small libtorch ops between them take tens of microseconds), short enough not to steal a core from libtorch's own
    /// threads in a prefill, whose GEMMs run seconds apart from the kernels' calls in wall-clock terms.
    /// </summary>
    private static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 5_000;   // 200 µs

    /// <summary>How long the calling thread spins on its workers' parts before it starts yielding its core.</summary>
    private static readonly long JoinSpinTicks = System.Diagnostics.Stopwatch.Frequency / 20_000;   // 50 µs

    /// <summary>The process's pool, sized to the cores (workers start on first use).</summary>
    public static KernelPool Shared { get; } = new(Environment.ProcessorCount);

    private readonly Thread[] _workers;
    private readonly SemaphoreSlim[] _wake;
    private readonly object _gate = new();
    private Action<int>? _body;
    private int _parts;
    private long _generation;
    private int _pending;
    private readonly int[] _sleeping;   // 1 while worker i is (about to be) blocked on its semaphore
    private Exception? _failure;

    private KernelPool(int threads)
    {
        int workers = Math.Max(0, threads - 1);
        _workers = new Thread[workers];
        _wake = new SemaphoreSlim[workers];
        _sleeping = new int[workers];
        for (int i = 0; i < workers; i++)
        {
            _wake[i] = new SemaphoreSlim(0);
            int index = i;
            _workers[i] = new Thread(() => Work(index)) { IsBackground = true, Name = $"lorasqueeze-kernel-{i + 1}" };
            _workers[i].Start();
        }
    }

    /// <summary>Parallel regions (fork/joins with more than one part) run so far: a figure the peer benchmark reports per decode step.</summary>
    public long Regions => Volatile.Read(ref _regions);

    private long _regions;

    /// <summary>Parts this pool can run at once (the calling thread and its workers).</summary>
    public int Width => _workers.Length + 1;

    /// <summary>How many parts to split work of <paramref name="items"/> independent pieces into with <paramref name="threads"/> threads (1 ..= <see cref="Width"/>).</summary>
    public int Parts(int threads, int items) => Math.Clamp(Math.Min(threads, items), 1, Width);

    /// <summary>
    /// Runs <paramref name="body"/>(0 .. parts−1), part 0 on the calling thread; returns when all are done.
    /// <paramref name="parts"/> comes from <see cref="Parts"/>: callers split their work by it, so it is never cut here.
    /// </summary>
    public void For(int parts, Action<int> body)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(parts, Width);
        if (parts <= 1)
        {
            body(0);
            return;
        }
        lock (_gate)   // one parallel region at a time (there is one engine thread; this only guards misuse)
        {
            _regions++;
            _body = body;
            _parts = parts;
            _failure = null;
            Volatile.Write(ref _pending, parts - 1);
            Interlocked.Increment(ref _generation);
            for (int i = 0; i < parts - 1; i++)
                if (Volatile.Read(ref _sleeping[i]) == 1) _wake[i].Release();
            body(0);
            // Wait for the workers' parts: spin on pause instructions first (a part ends within microseconds of ours;
            // SpinWait.SpinOnce yields the core after ten rounds — sched_yield and Sleep(0) calls that were 3 % of a
            // batch-1 step's samples), and yield only past JoinSpinTicks, when a worker was likely descheduled.
            long t1 = System.Diagnostics.Stopwatch.GetTimestamp();
            while (Volatile.Read(ref _pending) > 0 && System.Diagnostics.Stopwatch.GetTimestamp() - t1 < JoinSpinTicks) Thread.SpinWait(8);
            var spin = new SpinWait();
            while (Volatile.Read(ref _pending) > 0) spin.SpinOnce(sleep1Threshold: -1);
            _body = null;
            if (_failure is { } f) throw new AggregateException("a kernel worker failed", f);
        }
    }

    private void Work(int index)
    {
        long seen = 0;
        while (true)
        {
            long g;
            long since = System.Diagnostics.Stopwatch.GetTimestamp();
            while ((g = Volatile.Read(ref _generation)) == seen)
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() - since < SpinTicks)
                {
                    Thread.SpinWait(8);
                    continue;
                }
                // Announce sleep with a full fence, then re-check: a call that started in between saw the flag (and
                // released the semaphore) or is seen here. A release that finds us awake only makes one wait return early.
                Interlocked.Exchange(ref _sleeping[index], 1);
                if (Volatile.Read(ref _generation) == seen) _wake[index].Wait();
                Interlocked.Exchange(ref _sleeping[index], 0);
                since = System.Diagnostics.Stopwatch.GetTimestamp();
            }
            seen = g;
            if (index + 1 < _parts)
            {
                try
                {
                    _body!(index + 1);
                }
                catch (Exception ex)
                {
                    _failure = ex;
                }
                Interlocked.Decrement(ref _pending);
            }
        }
    }
}
