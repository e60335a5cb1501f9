using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoraSqueeze.LoadTest.Reporting;

/// <summary>JSON settings of every report file (camelCase, indented, NaN written as a string rather than failing).</summary>
public static class ReportJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static void Write<T>(string path, T value) => File.WriteAllText(path, JsonSerializer.Serialize(value, Options));
}
