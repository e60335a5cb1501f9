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

    /// <summary>Throws naming the module when a tensor is not a matrix.</summary>
    public static void RequireMatrix(string module, string name, TorchSharp.torch.Tensor t)
    {
        if (t.dim() != 2)
            throw new AdapterFormatException($"module {module}: tensor '{name}' has shape [{string.Join(", ", t.shape)}], expected a matrix");
    }
}
