using System.Text.Json.Serialization;

namespace LoraSqueeze.Model.Config;

/// <summary>
/// The <c>rope_scaling</c> block of a Hugging Face config. Only <c>rope_type: "llama3"</c> (Llama 3.1/3.2) and
/// <c>"default"</c> are supported; see transformers' <c>modeling_rope_utils._compute_llama3_parameters</c>.
/// Older configs spell the key <c>type</c>.
/// </summary>
public sealed record RopeScaling
{
    [JsonPropertyName("rope_type")] public string? RopeType { get; init; }
    [JsonPropertyName("type")] public string? LegacyType { get; init; }
    [JsonPropertyName("factor")] public double Factor { get; init; } = 1.0;
    [JsonPropertyName("low_freq_factor")] public double LowFreqFactor { get; init; } = 1.0;
    [JsonPropertyName("high_freq_factor")] public double HighFreqFactor { get; init; } = 4.0;
    [JsonPropertyName("original_max_position_embeddings")] public int OriginalMaxPositionEmbeddings { get; init; } = 8192;

    /// <summary>The effective type (<c>rope_type</c>, else the legacy <c>type</c>), lower case.</summary>
    [JsonIgnore] public string Kind => (RopeType ?? LegacyType ?? "default").ToLowerInvariant();
}
