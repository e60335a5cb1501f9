namespace LoraSqueeze.Server.Engine;

/// <summary>Why a sequence ended.</summary>
public enum GenerationFinish
{
    None,
    Length,
    Eos,
    Stop,
    Cancelled,
}

/// <summary>One token from one step; <see cref="Finish"/> is set on a sequence's last token.</summary>
public readonly record struct GeneratedToken(long RequestId, int TokenId, float Logprob, GenerationFinish Finish);
