using LoraSqueeze.Engine.Requests;

namespace LoraSqueeze.Server.OpenAi;

/// <summary>The engine's finish reasons as OpenAI names them: EOS and stop strings or ids are "stop", the token limit "length".</summary>
internal static class FinishReasons
{
    public static string ToOpenAi(this FinishReason finish) => finish == FinishReason.Length ? "length" : "stop";
}
