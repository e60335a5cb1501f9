using System.Globalization;
using System.Text.RegularExpressions;

namespace LoraSqueeze.Testing;

/// <summary>One sample of the Prometheus text exposition format: name, labels and value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// A small parser for the Prometheus text exposition format (version 0.0.4) as prometheus-net writes it: comment lines,
/// <c>name{k="v",…} value</c> samples, escaped label values, +Inf/NaN.
/// </summary>
public static partial class PrometheusText
{
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            var m = SampleLine().Match(line);
            if (!m.Success) throw new FormatException($"not a Prometheus sample line: '{line}'");
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (Match l in LabelPair().Matches(m.Groups["labels"].Value))
                labels[l.Groups["key"].Value] = Regex.Unescape(l.Groups["value"].Value);
            samples.Add(new PrometheusSample(m.Groups["name"].Value, labels, ParseValue(m.Groups["value"].Value)));
        }
        return samples;
    }

    /// <summary>Sum of the samples named <paramref name="name"/> whose labels include every given pair.</summary>
    public static double Sum(IReadOnlyList<PrometheusSample> samples, string name, params (string Key, string Value)[] labels) =>
        samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).Sum(s => s.Value);

    private static double ParseValue(string text) => text switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture),
    };

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\d+)?$")]
    private static partial Regex SampleLine();

    [GeneratedRegex(@"(?<key>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>(\\.|[^""\\])*)""")]
    private static partial Regex LabelPair();
}
