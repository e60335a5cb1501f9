using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model;
using static TorchSharp.torch;

namespace LoraSqueeze.Testing;

/// <summary>Temporary tiny model folders and tensor comparison helpers shared by the tests.</summary>
public static class TestModels
{
    public static string TempDir(string name)
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorasqueeze-model-tests", name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    public static CausalLM WriteAndLoad(TinyModelSpec spec, ModelLoadOptions? options = null, string name = "m")
    {
        TorchRuntime.EnsureInitialized();
        var dir = TempDir(name);
        TinyModelFactory.Write(dir, spec);
        return CausalLM.Load(dir, CPU, options ?? new ModelLoadOptions { AdapterRank = 4, AdapterSlots = 4 });
    }

    /// <summary>max |a − b| / max |b|.</summary>
    public static double RelativeError(Tensor actual, Tensor expected)
    {
        using var scope = NewDisposeScope();
        double diff = (actual.to_type(ScalarType.Float64) - expected.to_type(ScalarType.Float64)).abs().max().item<double>();
        double scale = expected.to_type(ScalarType.Float64).abs().max().item<double>();
        return diff / Math.Max(scale, 1e-30);
    }
}
