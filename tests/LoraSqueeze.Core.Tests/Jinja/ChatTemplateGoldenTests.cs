using System.Text.Json;
using LoraSqueeze.Core.Templating;

namespace LoraSqueeze.Core.Tests.Jinja;

/// <summary>
/// The real chat templates of Llama 3/3.1/3.2, Qwen2.5/Qwen3 and Mistral v0.1–v0.3/Nemo, rendered with Hugging Face's
/// settings (trim_blocks, lstrip_blocks), equal byte for byte to renderings made by Python's jinja2
/// (Jinja/Templates/SOURCES.md names each golden's origin). Each case is a <c>NAME.conversation.json</c>: the template
/// file, the messages and every other variable the render gets; the expected text is <c>NAME.expected.txt</c>, or
/// <c>NAME.expected-error.txt</c> for a template's own raise_exception message.
/// </summary>
public sealed class ChatTemplateGoldenTests
{
    private static readonly string Folder = Path.Combine(AppContext.BaseDirectory, "Jinja", "Templates");

    /// <summary>The goldens were rendered with strftime_now pinned to this day.</summary>
    private static DateTime GoldenDay() => new(2024, 7, 26, 12, 0, 0, DateTimeKind.Local);

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        foreach (var file in Directory.GetFiles(Folder, "*.conversation.json").Order(StringComparer.Ordinal))
            data.Add(Path.GetFileName(file)[..^".conversation.json".Length]);
        return data;
    }

    [Fact]
    public void Every_model_family_has_goldens()
    {
        var names = Directory.GetFiles(Folder, "*.conversation.json").Select(f => Path.GetFileName(f)[..^".conversation.json".Length]).ToList();
        foreach (var family in (string[])["llama3", "llama3.1", "llama3.2", "qwen2.5", "qwen3", "mistral-v0.1", "mistral-v0.3", "mistral-nemo"])
            Assert.Contains(names, n => n == family || n.StartsWith(family + ".", StringComparison.Ordinal));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_as_jinja2_does(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, name + ".conversation.json")));
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        string templateFile = "";
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "template") templateFile = p.Value.GetString()!;
            else variables[p.Name] = JinjaJson.FromJson(p.Value);
        }
        var template = JinjaTemplate.Parse(File.ReadAllText(Path.Combine(Folder, templateFile)), trimBlocks: true, lstripBlocks: true);

        string errorFile = Path.Combine(Folder, name + ".expected-error.txt");
        if (File.Exists(errorFile))
        {
            var e = Assert.Throws<JinjaException>(() => template.Render(variables, GoldenDay));
            Assert.Equal(File.ReadAllText(errorFile).TrimEnd('\n'), e.Message);
            return;
        }
        string expected = File.ReadAllText(Path.Combine(Folder, name + ".expected.txt"));
        Assert.Equal(expected, template.Render(variables, GoldenDay));
    }
}
