using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Cli.Commands;

/// <summary><c>lorasqueeze tokenize --model DIR --text TEXT [--json]</c>: the ids and tokens of a text.</summary>
public static class TokenizeCommand
{
    // Tokens are mostly non-ASCII ("▁the", "Ġthe", CJK): print them as is, not as \uXXXX escapes.
    private static readonly JsonSerializerOptions Readable = new(CliJson.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Attach(RootCommand root)
    {
        var model = new Option<string>("--model") { Description = "Model directory holding tokenizer.json.", Required = true };
        var text = new Option<string>("--text") { Description = "Text to tokenize.", Required = true };
        var noSpecial = new Option<bool>("--no-special") { Description = "Do not add BOS/EOS from the post-processor." };
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var command = new Command("tokenize", "Print the token ids and tokens of a text.") { model, text, noSpecial, json };
        command.SetAction(parse => CliErrors.Run(() => Run(parse.GetValue(model)!, parse.GetValue(text)!, !parse.GetValue(noSpecial), parse.GetValue(json))));
        root.Subcommands.Add(command);
    }

    public sealed record TokenizeResult(int[] Ids, string?[] Tokens, int Count, string Decoded);

    public static int Run(string modelDir, string text, bool addSpecialTokens, bool json)
    {
        HuggingFaceTokenizer tokenizer;
        try
        {
            tokenizer = TokenizerLoader.FromDirectory(modelDir);
        }
        catch (TokenizerFormatException ex)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 2;
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine($"error: cannot read the tokenizer in '{modelDir}': {ex.Message}");
            return 2;
        }

        var ids = tokenizer.Encode(text, addSpecialTokens);
        var result = new TokenizeResult(ids, [.. ids.Select(tokenizer.IdToToken)], ids.Length, tokenizer.Decode(ids, skipSpecialTokens: false));
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(result, Readable));
            return 0;
        }
        Console.WriteLine($"{ids.Length} tokens");
        Console.WriteLine("ids:    " + string.Join(' ', ids));
        Console.WriteLine("tokens: " + string.Join(' ', result.Tokens.Select(t => JsonSerializer.Serialize(t, Readable))));
        return 0;
    }
}
