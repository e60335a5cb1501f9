namespace LoraSqueeze.Core.Adapters;

/// <summary>What every per-kind reader needs: the adapter's tensors, its config and the optional base model.</summary>
internal sealed record AdapterReadContext(AdapterTensors Tensors, AdapterConfig Config, BaseModelWeights? Base)
{
    /// <summary>
    /// Groups tensor names into modules by the given suffixes; a tensor with none of them is an error naming it, and a
    /// module outside <c>target_modules</c> is an error naming the module.
    /// </summary>
    public SortedDictionary<string, HashSet<string>> GroupModules(IReadOnlyCollection<string> suffixes, Func<string, bool>? skip = null)
    {
        var modules = new SortedDictionary<string, HashSet<string>>(StringComparer.Ordinal);
        foreach (var name in Tensors.Names)
        {
            if (skip?.Invoke(name) == true) continue;
            var split = AdapterKeys.Split(name, suffixes) ??
                throw new AdapterFormatException($"{Tensors.Location}: tensor '{name}' is not a {Config.PeftType} tensor (expected a name ending in one of {string.Join(", ", suffixes)})");
            if (!PatternMatcher.IsTarget(Config, split.Module))
                throw new AdapterFormatException($"module {split.Module}: not in the config's target_modules ({string.Join(", ", Config.TargetModules ?? [Config.TargetModulesRegex ?? ""])}) in {Tensors.Location}");
            if (!modules.TryGetValue(split.Module, out var set)) modules[split.Module] = set = [];
            set.Add(split.Suffix);
        }
        return modules;
    }

    /// <summary>Throws naming the module and tensor when <paramref name="suffix"/> is absent.</summary>
    public void Require(string module, HashSet<string> present, string suffix)
    {
        if (!present.Contains(suffix))
            throw new AdapterFormatException($"module {module}: tensor '{module}.{suffix}' is missing from {Tensors.Location}");
    }

    /// <summary>
    /// The base weight of <paramref name="module"/> as ΔW's [out, in] (fan_in_fan_out transposes it); throws naming the
    /// module when the base has no such matrix. Null without a base model.
    /// </summary>
    public (long Out, long In)? BaseDelta(string module)
    {
        if (Base is null) return null;
        var w = Base.WeightShape(module);
        if (w is not { Length: 2 })
        {
            Base.CheckFits(module, 0, 0, Config.FanInFanOut);   // throws: not in the base, or not a matrix
            return null;
        }
        return Config.FanInFanOut ? (w[1], w[0]) : (w[0], w[1]);
    }

    /// <summary>A header's claimed shape of <c>module.suffix</c> (null when absent).</summary>
    public long[]? HeaderShape(string module, string suffix) => Tensors.Shape($"{module}.{suffix}");

    /// <summary>Refuses a tensor whose header shape is not <paramref name="expected"/>, before its data is read.</summary>
    public static void RequireHeaderShape(string module, string suffix, long[]? claimed, long[] expected, string meaning)
    {
        if (claimed is null || claimed.SequenceEqual(expected)) return;
        throw new AdapterFormatException($"module {module}: tensor '{module}.{suffix}' claims shape [{string.Join(", ", claimed)}], " +
            $"but this base model and config need [{string.Join(", ", expected)}] ({meaning}); refused before reading it");
    }

    /// <summary>Throws naming the module when a tensor is not a matrix.</summary>
    public static void RequireMatrix(string module, string name, TorchSharp.torch.Tensor t)
    {
        if (t.dim() != 2)
            throw new AdapterFormatException($"module {module}: tensor '{name}' has shape [{string.Join(", ", t.shape)}], expected a matrix");
    }
}
