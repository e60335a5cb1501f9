using System.Text.Json.Nodes;
using LoraSqueeze.Core.Safetensors;
using LoraSqueeze.Core.Torch;
using TorchSharp;

namespace LoraSqueeze.Testing;

/// <summary>Writes real adapter and model folders (through the project's own safetensors writer) into a temp dir.</summary>
public sealed class AdapterFixture : IDisposable
{
    public AdapterFixture()
    {
        TorchRuntime.EnsureInitialized();
        Root = Path.Combine(Path.GetTempPath(), "lsq-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Root);
        Gen = new torch.Generator(42);
    }

    public string Root { get; }

    public torch.Generator Gen { get; }

    public torch.Tensor Randn(params long[] shape) => torch.randn(shape, dtype: torch.ScalarType.Float32, generator: Gen);

    /// <summary>Writes adapter_config.json and adapter_model.safetensors (keys as given) into Root/name.</summary>
    public string WriteAdapter(string name, JsonObject config, IEnumerable<KeyValuePair<string, torch.Tensor>> tensors)
    {
        var dir = Path.Combine(Root, name);
        Directory.CreateDirectory(dir);
        File.WriteAllText(Path.Combine(dir, "adapter_config.json"), config.ToJsonString());
        SafetensorsWriter.Write(Path.Combine(dir, "adapter_model.safetensors"), tensors, new Dictionary<string, string> { ["format"] = "pt" });
        return dir;
    }

    /// <summary>Writes a model folder with model.safetensors holding {module}.weight tensors.</summary>
    public string WriteModel(string name, IEnumerable<KeyValuePair<string, torch.Tensor>> weights)
    {
        var dir = Path.Combine(Root, name);
        Directory.CreateDirectory(dir);
        SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), weights.Select(kv => new KeyValuePair<string, torch.Tensor>(kv.Key + ".weight", kv.Value)),
            new Dictionary<string, string> { ["format"] = "pt" });
        return dir;
    }

    public static KeyValuePair<string, torch.Tensor> Key(string name, torch.Tensor t) => new(name, t);

    public static string Peft(string module, string suffix) => $"base_model.model.{module}.{suffix}";

    /// <summary>‖x − y‖_F / ‖y‖_F in float64.</summary>
    public static double RelErr(torch.Tensor x, torch.Tensor y)
    {
        using var scope = torch.NewDisposeScope();
        var x64 = x.to_type(torch.ScalarType.Float64);
        var y64 = y.to_type(torch.ScalarType.Float64);
        return x64.sub(y64).norm().item<double>() / Math.Max(1e-300, y64.norm().item<double>());
    }

    /// <summary>Same shape and bit-identical values.</summary>
    public static bool Same(torch.Tensor x, torch.Tensor y)
    {
        using var scope = torch.NewDisposeScope();
        return x.shape.SequenceEqual(y.shape) && x.eq(y).all().item<bool>();
    }

    public void Dispose()
    {
        Gen.Dispose();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // Temp folder cleanup is best effort.
        }
    }
}
