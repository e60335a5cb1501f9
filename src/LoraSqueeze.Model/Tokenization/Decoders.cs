using System.Text;

namespace LoraSqueeze.Model.Tokenization;

/// <summary>
/// The <c>decoder</c> step (<c>tokenizers/src/decoders/</c>): token strings → text. Like HF's <c>decode_chain</c>,
/// each decoder maps a list of token strings to a new list; the final list is concatenated.
/// </summary>
public abstract class TokenDecoder
{
    public abstract List<string> DecodeChain(List<string> tokens);

    public string Decode(List<string> tokens) => string.Concat(DecodeChain(tokens));

    /// <summary>
    /// <c>ByteLevel</c> (<c>byte_level.rs</c>): byte-level chars → bytes → UTF-8 (lossy). A token holding a char
    /// outside the byte table (an added token written plainly) contributes its own UTF-8 bytes, as in HF.
    /// </summary>
    public sealed class ByteLevel : TokenDecoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var bytes = new List<byte>();
            foreach (var token in tokens)
            {
                int mark = bytes.Count;
                bool allMapped = true;
                foreach (char c in token)
                {
                    if (!ByteLevelAlphabet.TryCharToByte(c, out byte b))
                    {
                        allMapped = false;
                        break;
                    }
                    bytes.Add(b);
                }
                if (allMapped) continue;
                bytes.RemoveRange(mark, bytes.Count - mark);
                bytes.AddRange(Encoding.UTF8.GetBytes(token));
            }
            return [Encoding.UTF8.GetString(bytes.ToArray())];
        }
    }

    /// <summary><c>Replace</c> of a literal in each token (<c>normalizers/replace.rs</c> used as a decoder).</summary>
    public sealed class Replace(string pattern, string content) : TokenDecoder
    {
        public override List<string> DecodeChain(List<string> tokens) =>
            tokens.ConvertAll(t => t.Replace(pattern, content, StringComparison.Ordinal));
    }

    /// <summary>
    /// <c>ByteFallback</c> (<c>decoders/byte_fallback.rs</c>): runs of <c>&lt;0xNN&gt;</c> tokens become the UTF-8
    /// text of their bytes, or one U+FFFD per byte when the run is not valid UTF-8.
    /// </summary>
    public sealed class ByteFallback : TokenDecoder
    {
        private static readonly UTF8Encoding Strict = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

        public override List<string> DecodeChain(List<string> tokens)
        {
            var output = new List<string>(tokens.Count);
            var pending = new List<byte>();
            foreach (var token in tokens)
            {
                if (TryParseByte(token, out byte b))
                {
                    pending.Add(b);
                    continue;
                }
                Flush(pending, output);
                output.Add(token);
            }
            Flush(pending, output);
            return output;
        }

        internal static bool TryParseByte(string token, out byte value)
        {
            value = 0;
            if (token.Length != 6 || !token.StartsWith("<0x", StringComparison.Ordinal) || token[5] != '>') return false;
            return byte.TryParse(token.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out value);
        }

        private static void Flush(List<byte> pending, List<string> output)
        {
            if (pending.Count == 0) return;
            try
            {
                output.Add(Strict.GetString(pending.ToArray()));
            }
            catch (DecoderFallbackException)
            {
                for (int i = 0; i < pending.Count; i++) output.Add("\uFFFD");
            }
            pending.Clear();
        }
    }

    /// <summary><c>Fuse</c>: joins every token into one (<c>decoders/fuse.rs</c>).</summary>
    public sealed class Fuse : TokenDecoder
    {
        public override List<string> DecodeChain(List<string> tokens) => [string.Concat(tokens)];
    }

    /// <summary><c>Strip</c>: removes up to <c>start</c> leading and <c>stop</c> trailing <c>content</c> chars per token (<c>decoders/strip.rs</c>).</summary>
    public sealed class Strip(char content, int start, int stop) : TokenDecoder
    {
        public override List<string> DecodeChain(List<string> tokens) => tokens.ConvertAll(t =>
        {
            int left = 0;
            while (left < start && left < t.Length && t[left] == content) left++;
            int right = t.Length;
            while (t.Length - right < stop && right > left && t[right - 1] == content) right--;
            return t[left..right];
        });
    }

    /// <summary>
    /// <c>Metaspace</c> (<c>pre_tokenizers/metaspace.rs</c> decoder): "▁" → " ", and the first token loses its
    /// leading space unless the prepend scheme is "never".
    /// </summary>
    public sealed class Metaspace(char replacement, string prependScheme) : TokenDecoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            var output = new List<string>(tokens.Count);
            for (int i = 0; i < tokens.Count; i++)
            {
                var t = tokens[i].Replace(replacement, ' ');
                if (i == 0 && prependScheme != "never" && t.StartsWith(' ')) t = t[1..];
                output.Add(t);
            }
            return output;
        }
    }

    /// <summary><c>Sequence</c>: feeds each decoder's output list to the next.</summary>
    public sealed class Sequence(IReadOnlyList<TokenDecoder> steps) : TokenDecoder
    {
        public override List<string> DecodeChain(List<string> tokens)
        {
            foreach (var step in steps) tokens = step.DecodeChain(tokens);
            return tokens;
        }
    }
}
