using System.Text.Json;
using System.Text.Json.Serialization;

namespace LoraSqueeze.Cli;

/// <summary>JSON settings shared by every <c>--json</c> output: camelCase, indented.</summary>
public static class CliJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
