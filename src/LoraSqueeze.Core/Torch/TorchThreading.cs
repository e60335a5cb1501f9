using System.Runtime.InteropServices;
using TorchSharp;

namespace LoraSqueeze.Core.Torch;

/// <summary>
/// Per-thread limits on libtorch's intra-op parallelism, for threads that run torch work beside the engine (adapter
/// loads and squeezes on the server's loader tasks).
/// Why: libtorch's CPU build runs its parallel regions on GNU OpenMP, and every thread that enters one gets its own
/// OpenMP team. Squeezes on thread-pool threads therefore left extra teams alive, and libgomp, seeing more managed
/// threads than cores, stops spinning between regions and parks/wakes its workers on every region instead. The engine's
/// two-thread steps then ran 3× slower on the demo model (base-only 1300 against 3900 tok/s after a preload that
/// squeezed 1000 adapters; docs/performance.md, finding 1). Limiting the loader threads to one OpenMP thread (a
/// per-thread setting in OpenMP) and one MKL thread (<c>MKL_Set_Num_Threads_Local</c>, the C entry point; the lower-case name is the Fortran one, which takes a pointer) keeps them from creating teams at
/// all, and leaves the engine's own threads untouched; <c>torch.set_num_threads</c> cannot do this, as it also sets
/// MKL's process-wide count.
/// </summary>
public static unsafe class TorchThreading
{
    private static readonly Lazy<(nint Omp, nint OmpGet, nint Mkl)> Exports = new(Resolve);

    /// <summary>
    /// Runs libtorch's ops on the calling thread with one OpenMP thread until the scope ends, then restores the
    /// previous count (OpenMP's per-thread ICV: cheap, and no other thread is affected). For a CPU decode step, whose
    /// GEMMs and attention are the project's own threaded kernels: libtorch's remaining ops are too small to gain from a
    /// parallel region, and its idle OpenMP workers spin-wait on the very cores those kernels need (measured on h1024
    /// with 2 threads: batch-1 steps 16.9 → 12.5 ms; docs/performance.md). Does nothing where libgomp is not found.
    /// </summary>
    public static OpenMpThreadScope OneOpenMpThread()
    {
        var (set, get, _) = Exports.Value;
        if (set == 0 || get == 0) return default;
        int previous = ((delegate* unmanaged<int>)get)();
        if (previous == 1) return default;
        ((delegate* unmanaged<int, void>)set)(1);
        return new OpenMpThreadScope(set, previous);
    }

    /// <summary>Restores the calling thread's OpenMP thread count when disposed (a struct: nothing allocated per step).</summary>
    public readonly struct OpenMpThreadScope : IDisposable
    {
        private readonly nint _set;
        private readonly int _previous;

        internal OpenMpThreadScope(nint set, int previous)
        {
            _set = set;
            _previous = previous;
        }

        public void Dispose()
        {
            if (_set != 0) ((delegate* unmanaged<int, void>)_set)(_previous);
        }
    }

    [ThreadStatic]
    private static bool t_limited;

    /// <summary>
    /// Makes torch work on the calling thread single-threaded (OpenMP and MKL), once per thread. Returns false where the
    /// native entry points cannot be found (not Linux, or another libtorch build); then nothing changes.
    /// </summary>
    public static bool LimitCurrentThreadToOne()
    {
        if (t_limited) return true;
        TorchRuntime.EnsureInitialized();
        // ATen initialises each thread's OpenMP thread count lazily, on its first parallel op, from MKL's maximum;
        // run one first so that initialisation cannot undo the limit set below.
        using (torch.NewDisposeScope())
        {
            torch.ones(64).add_(1);
        }
        var (omp, _, mkl) = Exports.Value;
        if (omp == 0) return false;
        ((delegate* unmanaged<int, void>)omp)(1);
        if (mkl != 0) ((delegate* unmanaged<int, int>)mkl)(1);
        t_limited = true;
        return true;
    }

    /// <summary>The libgomp and libtorch_cpu this process has loaded (from /proc/self/maps, so never a second copy).</summary>
    private static (nint Omp, nint OmpGet, nint Mkl) Resolve()
    {
        if (!OperatingSystem.IsLinux()) return (0, 0, 0);
        TorchRuntime.EnsureInitialized();
        string? gomp = null, torchCpu = null;
        foreach (var line in File.ReadLines("/proc/self/maps"))
        {
            int slash = line.IndexOf('/', StringComparison.Ordinal);
            if (slash < 0) continue;
            var path = line[slash..];
            var name = Path.GetFileName(path);
            if (gomp is null && name.StartsWith("libgomp", StringComparison.Ordinal)) gomp = path;
            if (torchCpu is null && name == "libtorch_cpu.so") torchCpu = path;
        }
        return (Export(gomp, "omp_set_num_threads"), Export(gomp, "omp_get_max_threads"), Export(torchCpu, "MKL_Set_Num_Threads_Local"));
    }

    private static nint Export(string? library, string symbol) =>
        library is not null && NativeLibrary.TryLoad(library, out var handle) && NativeLibrary.TryGetExport(handle, symbol, out var address)
            ? address
            : 0;
}
