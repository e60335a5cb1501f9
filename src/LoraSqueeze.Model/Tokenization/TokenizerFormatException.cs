namespace LoraSqueeze.Model.Tokenization;

/// <summary>A tokenizer file that is missing, malformed or uses a feature we do not implement; the message names the field.</summary>
public sealed class TokenizerFormatException : Exception
{
    public TokenizerFormatException()
    {
    }

    public TokenizerFormatException(string message) : base(message)
    {
    }

    public TokenizerFormatException(string message, Exception inner) : base(message, inner)
    {
    }
}
