using System.Runtime.ExceptionServices;

namespace LoraSqueeze.Core.Squeeze;

/// <summary>
/// Runs independent per-module work on up to <c>parallelism</c> threads. Each module's work is a handful of small
/// torch ops, so spreading modules over cores with one torch intra-op thread each beats libtorch's own intra-op
/// threads: an OpenMP parallel region waits at a barrier for all its threads, and on a busy machine one descheduled
/// thread stalls every op by a scheduler time slice (measured 5–20× slower with 2 intra-op threads at load 6 on 2
/// cores; docs/benchmarks/squeeze.md). TorchSharp supports thread parallelism (dispose scopes are per thread,
/// docs/squeeze.md "Threads"). With parallelism 1 the work runs inline on the calling thread, in order.
/// </summary>
public static class ModuleParallel
{
    public static void For(int count, int parallelism, Action<int> body)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(parallelism, 1);
        if (parallelism == 1 || count <= 1)
        {
            for (int i = 0; i < count; i++) body(i);
            return;
        }
        try
        {
            Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = parallelism }, body);
        }
        catch (AggregateException ex) when (ex.InnerExceptions.Count >= 1)
        {
            // Callers and the CLI handle the module's own error (AdapterFormatException naming it), not the wrapper.
            ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
        }
    }
}
