namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// Reads a PEFT LoRA folder (any rank pattern, plain or rsLoRA scaling) straight into <see cref="LoraWeights"/> with
/// the scaling folded into B, without any SVD. Used to load squeezed adapters back and in tests.
/// </summary>
public static class PeftLoraReader
{
    public static LoraWeights Read(string adapterDir)
    {
        using var adapter = AdapterReader.Read(adapterDir);
        if (adapter.Kind is not (AdapterKind.Lora or AdapterKind.RsLora))
            throw new AdapterFormatException($"{adapterDir}: a {adapter.Kind} adapter is not a standard LoRA; squeeze it first");
        var modules = adapter.Modules.Select(m =>
        {
            var f = m.Factors!;
            return new LoraModule(m.ModulePath, f.Q.clone().DetachFromDisposeScope(), f.P.clone().DetachFromDisposeScope()); // A = Q [r, in], B = s·B [out, r]
        }).ToList();
        return new LoraWeights(adapter.Name, modules);
    }
}
