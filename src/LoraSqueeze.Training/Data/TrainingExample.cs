namespace LoraSqueeze.Training.Data;

/// <summary>
/// One line of a training file. <c>{"text": ...}</c> becomes an example with an empty prompt (loss on every token);
/// <c>{"prompt": ..., "completion": ...}</c> keeps the two apart so the loss covers the completion only.
/// </summary>
public sealed record TrainingExample(string Prompt, string Completion)
{
    /// <summary>True for <c>{"text": ...}</c> lines.</summary>
    public bool IsPlainText => Prompt.Length == 0;
}
