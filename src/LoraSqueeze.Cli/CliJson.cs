using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoraSqueeze.Cli;

/// <summary>JSON settings shared by every <c>--json</c> output: camelCase, indented, enums by name ("Lora", not 0).</summary>
public static class CliJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
        Converters = { new JsonStringEnumConverter() },
    };
}
