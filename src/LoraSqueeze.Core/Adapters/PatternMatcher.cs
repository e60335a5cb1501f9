using System.Text.RegularExpressions;

namespace LoraSqueeze.Core.Adapters;

/// <summary>
/// PEFT's <c>rank_pattern</c>/<c>alpha_pattern</c> lookup (peft/utils/other.py <c>get_pattern_key</c>, PEFT ≥ 0.15):
/// the first key K in dict order with <c>re.match(rf"(.*\.)?({K})$", module)</c> wins; otherwise the exact name.
/// </summary>
public static class PatternMatcher
{
    /// <summary>The matching pattern key for <paramref name="modulePath"/>, or null.</summary>
    public static string? Find(IEnumerable<string> patternKeys, string modulePath)
    {
        var keys = patternKeys.ToList();
        foreach (var k in keys)
        {
            Regex regex;
            try
            {
                regex = new Regex($"^(.*\\.)?({k})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException)
            {
                continue; // Not a valid .NET regex: fall back to the exact-name lookup below, as PEFT would.
            }
            if (regex.IsMatch(modulePath)) return k;
        }
        return keys.FirstOrDefault(k => k == modulePath);
    }

    /// <summary>
    /// PEFT's <c>check_target_module_exists</c> for a list: exact name or a <c>.name</c> suffix; for a string: a full
    /// regex match. Null target modules match everything (the saved config did not say).
    /// </summary>
    public static bool IsTarget(AdapterConfig config, string modulePath)
    {
        if (config.TargetModulesRegex is { } regex)
        {
            try
            {
                return Regex.IsMatch(modulePath, $"^(?:{regex})$", RegexOptions.CultureInvariant, TimeSpan.FromSeconds(1));
            }
            catch (ArgumentException)
            {
                return true; // A Python-only regex we cannot evaluate: trust the tensor keys.
            }
        }
        if (config.TargetModules is not { Count: > 0 } list) return true;
        if (list.Contains("all-linear")) return true;
        return list.Any(t => modulePath == t || modulePath.EndsWith("." + t, StringComparison.Ordinal));
    }
}
