namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// GPT-2's reversible byte ↔ printable-char table (<c>bytes_to_unicode</c> in openai/gpt-2 <c>encoder.py</c>,
/// <c>tokenizers/src/pre_tokenizers/byte_level.rs</c>): printable Latin-1 bytes map to themselves, the other 68
/// bytes to U+0100 upwards, so every byte string becomes a string of visible BMP chars (space → 'Ġ').
/// </summary>
public static class ByteLevelAlphabet
{
    private static readonly char[] ByteToCharTable = BuildTable();
    private static readonly Dictionary<char, byte> CharToByteTable = BuildReverse();

    public static char ByteToChar(byte b) => ByteToCharTable[b];

    public static bool TryCharToByte(char c, out byte b) => CharToByteTable.TryGetValue(c, out b);

    /// <summary>Maps the UTF-8 bytes of <paramref name="text"/> to their byte-level chars.</summary>
    public static string Encode(ReadOnlySpan<char> text)
    {
        int byteCount = System.Text.Encoding.UTF8.GetByteCount(text);
        Span<byte> bytes = byteCount <= 512 ? stackalloc byte[byteCount] : new byte[byteCount];
        System.Text.Encoding.UTF8.GetBytes(text, bytes);
        return string.Create(byteCount, bytes.ToArray(), static (dst, src) =>
        {
            for (int i = 0; i < src.Length; i++) dst[i] = ByteToCharTable[src[i]];
        });
    }

    private static char[] BuildTable()
    {
        var table = new char[256];
        var isPrintable = new bool[256];
        for (int b = '!'; b <= '~'; b++) isPrintable[b] = true;
        for (int b = 0xA1; b <= 0xAC; b++) isPrintable[b] = true;
        for (int b = 0xAE; b <= 0xFF; b++) isPrintable[b] = true;
        int next = 0;
        for (int b = 0; b < 256; b++)
            table[b] = isPrintable[b] ? (char)b : (char)(256 + next++);
        return table;
    }

    private static Dictionary<char, byte> BuildReverse()
    {
        var map = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) map[ByteToCharTable[b]] = (byte)b;
        return map;
    }
}
