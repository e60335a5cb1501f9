using LoraSqueeze.Core.Torch;
using TorchSharp;

namespace LoraSqueeze.Core.Tests;

/// <summary>
/// <see cref="TorchThreading.LimitCurrentThreadToOne"/> must make torch single-threaded on the calling thread only: the
/// server calls it on loader threads so they create no OpenMP teams beside the engine's, whose thread count must not
/// change (docs/performance.md, finding 1).
/// </summary>
public class TorchThreadingTests
{
    [Fact]
    public void Limits_the_calling_thread_and_leaves_other_threads_alone()
    {
        TorchRuntime.EnsureInitialized();
        int before = -1, limitedThread = -1, otherThread = -1;
        bool applied = false;
        var limited = new Thread(() =>
        {
            using (torch.NewDisposeScope()) torch.ones(64).add_(1); // the thread's own lazy initialisation first
            before = torch.get_num_threads();
            applied = TorchThreading.LimitCurrentThreadToOne();
            limitedThread = torch.get_num_threads();
            // Torch work still runs, and gives the same answer.
            using var scope = torch.NewDisposeScope();
            var a = torch.arange(1, 1025, dtype: torch.ScalarType.Float32).reshape(32, 32);
            Assert.Equal(a.sum().item<float>(), a.matmul(torch.ones(32, 1)).sum().item<float>(), 3);
        });
        limited.Start();
        limited.Join();
        var other = new Thread(() =>
        {
            using (torch.NewDisposeScope()) torch.ones(64).add_(1);
            otherThread = torch.get_num_threads();
        });
        other.Start();
        other.Join();

        Assert.True(applied, "omp_set_num_threads was not found in the loaded libgomp");
        Assert.Equal(1, limitedThread);
        Assert.Equal(before, otherThread);
        if (Environment.ProcessorCount > 1) Assert.True(otherThread > 1, $"another thread got {otherThread} torch threads");
    }
}
