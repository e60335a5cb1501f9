namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// Normalises adapter tensor names: strips PEFT's <c>base_model.model.</c> prefix and a stray <c>.default</c> adapter
/// segment (left when someone saved <c>model.state_dict()</c> directly), per adapter-formats.md §1.1.
/// </summary>
public static class AdapterKeys
{
    /// <summary>The prefix PEFT writes before every HF module path.</summary>
    public const string PeftPrefix = "base_model.model.";

    /// <summary>Normalised key: no PEFT prefix, no <c>.default</c> segment.</summary>
    public static string Normalize(string key)
    {
        var k = key.StartsWith(PeftPrefix, StringComparison.Ordinal) ? key[PeftPrefix.Length..] : key;
        if (k.Contains(".default.", StringComparison.Ordinal)) k = k.Replace(".default.", ".", StringComparison.Ordinal);
        if (k.EndsWith(".default", StringComparison.Ordinal)) k = k[..^".default".Length];
        return k;
    }

    /// <summary>
    /// Splits a normalised key into (module path, tuner suffix) for a known suffix list, longest suffix first, or null
    /// when none of them ends the key.
    /// </summary>
    public static (string Module, string Suffix)? Split(string normalizedKey, IEnumerable<string> suffixes)
    {
        foreach (var s in suffixes.OrderByDescending(s => s.Length))
        {
            var tail = "." + s;
            if (normalizedKey.EndsWith(tail, StringComparison.Ordinal))
                return (normalizedKey[..^tail.Length], s);
        }
        return null;
    }

    /// <summary>The PEFT key for a LoRA factor of <paramref name="modulePath"/> ("lora_A" or "lora_B").</summary>
    public static string PeftLoraKey(string modulePath, string factor) => $"{PeftPrefix}{modulePath}.{factor}.weight";
}
