namespace LoraSqueeze.Engine.Requests;

/// <summary>Why a sequence finished (None while it runs). The wire enums (gRPC, later OpenAI) map from this one.</summary>
public enum FinishReason
{
    None,
    Length,
    Eos,
    Stop,
    Cancelled,
}
