using System.Text.Json;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Model.Tests.Tokenization;

/// <summary>
/// Where a chat template comes from and how it is chosen, as transformers does it: chat_template.jinja over
/// tokenizer_config.json, a string or named templates (tool_use when tools are given), special tokens as strings or
/// AddedToken objects, and errors that name the file and line.
/// </summary>
public sealed class ChatTemplateTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("lsq-chat-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static List<object?> Conversation(params (string Role, string Content)[] messages) =>
        messages.Select(m => (object?)new OrderedDictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList();

    private void Config(object config) => File.WriteAllText(Path.Combine(_dir, "tokenizer_config.json"), JsonSerializer.Serialize(config));

    [Fact]
    public void A_string_template_renders_with_the_special_tokens_and_the_generation_prompt()
    {
        Config(new
        {
            bos_token = new { content = "<s>", lstrip = false },   // the AddedToken form
            eos_token = "</s>",
            chat_template = "{{ bos_token }}{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}",
        });
        var t = ChatTemplate.FromDirectory(_dir)!;
        Assert.Equal("<s>[user]hi</s>[assistant]", t.Render(Conversation(("user", "hi")), addGenerationPrompt: true));
        Assert.Equal("<s>[user]hi</s>", t.Render(Conversation(("user", "hi")), addGenerationPrompt: false));
    }

    [Fact]
    public void Named_templates_pick_tool_use_when_tools_are_given_else_default()
    {
        Config(new
        {
            chat_template = new object[]
            {
                new { name = "default", template = "plain:{{ messages[0].content }}" },
                new { name = "tool_use", template = "tools:{{ tools | length }}:{{ messages[0].content }}" },
            },
        });
        var t = ChatTemplate.FromDirectory(_dir)!;
        Assert.Equal(["default", "tool_use"], t.Names.Order());
        Assert.Equal("plain:x", t.Render(Conversation(("user", "x")), true));
        Assert.Equal("tools:2:x", t.Render(Conversation(("user", "x")), true, tools: new List<object?> { 1L, 2L }));
        Assert.Equal("plain:x", t.Render(Conversation(("user", "x")), true, tools: new List<object?> { 1L }, name: "default"));
        Assert.Throws<ChatTemplateException>(() => t.Render(Conversation(("user", "x")), true, name: "missing"));
    }

    [Fact]
    public void Chat_template_jinja_wins_over_the_config_and_extra_variables_reach_it()
    {
        Config(new { bos_token = "<s>", chat_template = "from the config" });
        File.WriteAllText(Path.Combine(_dir, "chat_template.jinja"), "{{ bos_token }}{% if enable_thinking is defined and not enable_thinking %}no-think{% endif %}\n");
        var t = ChatTemplate.FromDirectory(_dir)!;
        Assert.EndsWith("chat_template.jinja", t.Source, StringComparison.Ordinal);
        Assert.Equal("<s>no-think", t.Render(Conversation(("user", "x")), true, extra: new Dictionary<string, object?> { ["enable_thinking"] = false }));
    }

    [Fact]
    public void A_folder_without_a_template_has_none_and_a_broken_one_names_the_file_and_line()
    {
        Config(new { bos_token = "<s>" });
        Assert.Null(ChatTemplate.FromDirectory(_dir));
        Config(new { chat_template = "line one\n{% for m in messages %}\n{{ m.content " });
        var e = Assert.Throws<TokenizerFormatException>(() => ChatTemplate.FromDirectory(_dir));
        Assert.Contains("tokenizer_config.json", e.Message, StringComparison.Ordinal);
        Assert.Contains("line 3", e.Message, StringComparison.Ordinal);
        Config(new { chat_template = 42 });
        Assert.Contains("must be a string or a list", Assert.Throws<TokenizerFormatException>(() => ChatTemplate.FromDirectory(_dir)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_template_that_raises_gives_its_message()
    {
        var t = ChatTemplate.FromText("{% if messages[0].role != 'system' %}{{ raise_exception('the first message must be the system prompt') }}{% endif %}ok");
        var e = Assert.Throws<ChatTemplateException>(() => t.Render(Conversation(("user", "x")), true));
        Assert.Equal("the first message must be the system prompt", e.Message);
        Assert.Equal("ok", t.Render(Conversation(("system", "s")), true));
    }

    [Fact]
    public void An_adapter_template_takes_the_base_special_tokens_it_lacks()
    {
        var baseTemplate = ChatTemplate.FromText("base", new Dictionary<string, string> { ["bos_token"] = "<B>", ["eos_token"] = "<E>" });
        Config(new { eos_token = "<AE>", chat_template = "{{ bos_token }}|{{ eos_token }}" });
        var t = ChatTemplate.FromDirectory(_dir, baseTemplate)!;
        Assert.Equal("<B>|<AE>", t.Render(Conversation(("user", "x")), true));
    }
}
