using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze tokenize --model DIR --text TEXT [--json]</c>: the ids and tokens of a text. With
/// <c>--chat FILE.json</c> (a JSON list of <c>{role, content}</c>), the conversation rendered with the model's chat
/// template and the generation prompt, tokenized as the server's /v1/chat/completions does, so a template can be
/// checked without a server.
/// </summary>
public static class TokenizeCommand
{
    // Tokens are mostly non-ASCII ("▁the", "Ġthe", CJK): print them as is, not as \uXXXX escapes.
    private static readonly JsonSerializerOptions Readable = new(CliJson.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Attach(RootCommand root)
    {
        var model = new Option<string>("--model") { Description = "Model directory holding tokenizer.json.", Required = true };
        var text = new Option<string?>("--text") { Description = "Text to tokenize." };
        var chat = new Option<string?>("--chat") { Description = "A conversation to render with the model's chat template: a JSON file holding a list of {role, content}." };
        var noSpecial = new Option<bool>("--no-special") { Description = "Do not add BOS/EOS from the post-processor." };
        var json = new Option<bool>("--json") { Description = "Machine-readable output." };
        var command = new Command("tokenize", "Print the token ids and tokens of a text, or of a conversation rendered with the chat template.") { model, text, chat, noSpecial, json };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            string? t = parse.GetValue(text), c = parse.GetValue(chat);
            if ((t is null) == (c is null))
            {
                Console.Error.WriteLine("error: give one of --text TEXT or --chat FILE.json");
                return 2;
            }
            return c is null
                ? Run(parse.GetValue(model)!, t!, !parse.GetValue(noSpecial), parse.GetValue(json))
                : RunChat(parse.GetValue(model)!, c, parse.GetValue(json));
        }));
        root.Subcommands.Add(command);
    }

    public sealed record TokenizeResult(int[] Ids, string?[] Tokens, int Count, string Decoded);

    public sealed record ChatTokenizeResult(string Rendered, int[] Ids, string?[] Tokens, int Count);

    /// <summary>Renders the conversation in <paramref name="chatFile"/> with the generation prompt and prints its ids.</summary>
    public static int RunChat(string modelDir, string chatFile, bool json)
    {
        HuggingFaceTokenizer tokenizer;
        ChatTemplate? template;
        List<object?> messages;
        try
        {
            tokenizer = TokenizerLoader.FromDirectory(modelDir);
            template = ChatTemplate.FromDirectory(modelDir);
            messages = ReadConversation(chatFile);
        }
        catch (Exception ex) when (ex is TokenizerFormatException or IOException or InvalidDataException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {ex.Message}");
            return 2;
        }
        if (template is null)
        {
            Console.Error.WriteLine($"error: '{modelDir}' has no chat template (tokenizer_config.json chat_template or chat_template.jinja)");
            return 2;
        }
        string rendered;
        try
        {
            rendered = template.Render(messages, addGenerationPrompt: true);
        }
        catch (ChatTemplateException ex)
        {
            Console.Error.WriteLine($"error: the chat template refused the conversation: {ex.Message}");
            return 2;
        }
        var ids = tokenizer.Encode(rendered, addSpecialTokens: false);
        var result = new ChatTokenizeResult(rendered, ids, [.. ids.Select(tokenizer.IdToToken)], ids.Length);
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(result, Readable));
            return 0;
        }
        Console.WriteLine($"{ids.Length} tokens");
        Console.WriteLine("rendered: " + JsonSerializer.Serialize(rendered, Readable));
        Console.WriteLine("ids:    " + string.Join(' ', ids));
        Console.WriteLine("tokens: " + string.Join(' ', result.Tokens.Select(t => JsonSerializer.Serialize(t, Readable))));
        return 0;
    }

    /// <summary>A JSON list of messages, each an object with a string role and a string content.</summary>
    private static List<object?> ReadConversation(string path)
    {
        if (!File.Exists(path)) throw new IOException($"'{path}' does not exist");
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(File.ReadAllText(path));
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: not valid JSON: {e.Message}");
        }
        using (doc)
        {
            if (doc.RootElement.ValueKind != JsonValueKind.Array || doc.RootElement.GetArrayLength() == 0)
                throw new InvalidDataException($"{path}: expected a non-empty JSON list of {{\"role\", \"content\"}} messages");
            int i = 0;
            foreach (var m in doc.RootElement.EnumerateArray())
            {
                if (m.ValueKind != JsonValueKind.Object || !m.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{path}: message {i} needs a string \"role\"");
                i++;
            }
            return (List<object?>)Core.Templating.JinjaJson.FromJson(doc.RootElement)!;
        }
    }

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
