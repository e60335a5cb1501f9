namespace LoraSqueeze.LoadTest.Workload;

/// <summary>One request of the workload: its adapter (empty = base model), prompt token ids and max_tokens.</summary>
public sealed record PlannedRequest(int Index, string AdapterId, int[] PromptTokens, int MaxTokens, int MinTokens = 0);
