using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Training.Data;

namespace LoraSqueeze.Training.Runs;

/// <summary>Reads a model folder's tokenizer and turns JSONL files into rows with it.</summary>
public static class ModelData
{
    private static readonly Dictionary<string, TokenEncoder> Encoders = [];

    /// <summary>The encoder of a model folder's tokenizer (one per folder and process, so row caching can key on it).</summary>
    public static TokenEncoder Encoder(string modelDir)
    {
        var full = Path.GetFullPath(modelDir);
        lock (CacheLock)
        {
            if (!Encoders.TryGetValue(full, out var e))
            {
                e = Encoder(TokenizerLoader.FromDirectory(full));
                Encoders[full] = e;
            }
            return e;
        }
    }

    public static TokenEncoder Encoder(ITokenizer tokenizer)
    {
        int eos = tokenizer.EosTokenIds.Count > 0 ? tokenizer.EosTokenIds[0]
            : throw new InvalidDataException("the tokenizer names no EOS token (tokenizer_config.json eos_token)");
        int pad = tokenizer.TokenToId("<|pad|>") ?? eos;
        return new TokenEncoder(t => tokenizer.Encode(t, addSpecialTokens: false), tokenizer.BosTokenId, eos, pad);
    }

    // The experiment trains dozens of adapters on the same files in one process; tokenizing once saves minutes.
    private static readonly Dictionary<(string Path, DateTime Written, int SeqLen, TokenEncoder Encoder), List<TokenRow>> Cache = [];
    private static readonly Lock CacheLock = new();

    /// <summary>Rows of a JSONL file (cached per file, length and encoder); the first <paramref name="maxRows"/>.</summary>
    public static List<TokenRow> Rows(string jsonlPath, TokenEncoder encoder, int seqLen, int maxRows = int.MaxValue)
    {
        var full = Path.GetFullPath(jsonlPath);
        var key = (full, File.GetLastWriteTimeUtc(full), seqLen, encoder);
        List<TokenRow>? rows;
        lock (CacheLock)
        {
            if (!Cache.TryGetValue(key, out rows))
            {
                rows = RowBuilder.Build(JsonlReader.Read(full), encoder, seqLen);
                Cache[key] = rows;
            }
        }
        return rows.Count > maxRows ? rows.GetRange(0, maxRows) : rows;
    }
}
