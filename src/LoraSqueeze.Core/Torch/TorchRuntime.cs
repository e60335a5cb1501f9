using System.Reflection;
using TorchSharp;

namespace LoraSqueeze.Core.Torch;

/// <summary>
/// Process-wide TorchSharp setup: loads the native backend with a clear error when it cannot, names the backend this
/// build was made with, and resolves device strings from configuration. Process-global torch settings (threads,
/// default dtype) are set here once, at startup, never per request (see docs/torch-native.md).
/// </summary>
public static class TorchRuntime
{
    private static readonly Lock InitLock = new();
    private static bool _initialized;

    /// <summary>The native bundle this build references: "cpu" or "cuda" (MSBuild property TorchBackend).</summary>
    public static string Backend =>
        typeof(TorchRuntime).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "TorchBackend")?.Value ?? "cpu";

    /// <summary>The TorchSharp managed version.</summary>
    public static string TorchSharpVersion =>
        typeof(torch).Assembly.GetName().Version?.ToString(3) ?? "unknown";

    /// <summary>
    /// Loads the native library (idempotent). Throws <see cref="InvalidOperationException"/> naming the likely cause
    /// when libLibTorchSharp.so cannot be loaded.
    /// </summary>
    /// <param name="threads">Intra-op threads; 0 keeps libtorch's default.</param>
    public static void EnsureInitialized(int threads = 0)
    {
        lock (InitLock)
        {
            if (_initialized) return;
            try
            {
                // Touching torch runs its static constructor, which loads the native backend.
                using var probe = torch.zeros(1);
                if (threads > 0) torch.set_num_threads(threads);
            }
            catch (TypeInitializationException ex)
            {
                throw new InvalidOperationException(
                    "TorchSharp's native backend failed to load. On Debian 12 and other hosts with a libstdc++ older " +
                    "than GCC 13, libLibTorchSharp.so needs its GLIBCXX_3.4.32 version need marked weak; the build " +
                    "does this in the output folder (build/TorchNative.targets). Run the app from its build or publish " +
                    "output, not from a copy of the NuGet package. Inner error: " + Innermost(ex).Message, ex);
            }
            _initialized = true;
        }
    }

    /// <summary>
    /// Resolves "cpu", "cuda" or "cuda:N". Fails with what to install when CUDA is asked for but unavailable.
    /// </summary>
    public static torch.Device ResolveDevice(string? spec)
    {
        EnsureInitialized();
        var text = string.IsNullOrWhiteSpace(spec) ? "cpu" : spec.Trim().ToLowerInvariant();
        if (text == "cpu") return torch.CPU;
        if (text == "cuda" || text.StartsWith("cuda:", StringComparison.Ordinal))
        {
            int index = 0;
            if (text.Length > 5 && (!int.TryParse(text.AsSpan(5), out index) || index < 0))
                throw new ArgumentException($"device '{spec}': expected cuda:N with N a non-negative integer");
            if (Backend != "cuda" || !torch.cuda.is_available())
            {
                throw new InvalidOperationException(
                    $"device '{spec}' asks for CUDA, but " +
                    (Backend != "cuda"
                        ? "this build uses the CPU libtorch. Rebuild with -p:TorchBackend=cuda (package TorchSharp-cuda-linux " +
                          "0.107.0 from nuget.org, libtorch 2.10 with CUDA 12.8) on a host with an NVIDIA driver."
                        : "no CUDA device is visible. Install the NVIDIA driver (CUDA 12.8 capable) and check nvidia-smi."));
            }
            int count = torch.cuda.device_count();
            if (index >= count)
                throw new ArgumentException($"device '{spec}': only {count} CUDA device(s) present");
            return new torch.Device(DeviceType.CUDA, index);
        }
        throw new ArgumentException($"device '{spec}' is not one of cpu, cuda, cuda:N");
    }

    private static Exception Innermost(Exception ex)
    {
        while (ex.InnerException is not null) ex = ex.InnerException;
        return ex;
    }
}
