using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Training.Data;

namespace LoraSqueeze.Training.Runs;

/// <summary>Reads a model folder's tokenizer and turns JSONL files into rows with it.</summary>
public static class ModelData
{
    public static TokenEncoder Encoder(ITokenizer tokenizer)
    {
        int eos = tokenizer.EosTokenIds.Count > 0 ? tokenizer.EosTokenIds[0]
            : throw new InvalidDataException("the tokenizer names no EOS token (tokenizer_config.json eos_token)");
        int pad = tokenizer.TokenToId("<|pad|>") ?? eos;
        return new TokenEncoder(t => tokenizer.Encode(t, addSpecialTokens: false), tokenizer.BosTokenId, eos, pad);
    }

    public static List<TokenRow> Rows(string jsonlPath, TokenEncoder encoder, int seqLen, int maxRows = int.MaxValue)
    {
        var rows = RowBuilder.Build(JsonlReader.Read(jsonlPath), encoder, seqLen);
        return rows.Count > maxRows ? rows.GetRange(0, maxRows) : rows;
    }
}
