namespace LoraSqueeze.Model.Gguf;

/// <summary>A tokenizer that a GGUF file cannot describe faithfully for llama.cpp.</summary>
public sealed class TokenizerExportException(string message) : Exception(message);
