namespace LoraSqueeze.Engine.Requests;

/// <summary>Why a sequence finished (None while it runs). The wire enums (gRPC, later OpenAI) map from this one.</summary>
public enum FinishReason
{
    None,
    Length,
    Eos,
    Stop,
    Cancelled,

    /// <summary>The model's logits for this sequence were not finite (NaN/±Inf): it was stopped with an error.</summary>
    NonFinite,
}
