namespace LoraSqueeze.Model.Tokenization;

/// <summary>A conversation the chat template refuses (its own raise_exception) or cannot render; the message says why.</summary>
public sealed class ChatTemplateException(string message) : Exception(message);
