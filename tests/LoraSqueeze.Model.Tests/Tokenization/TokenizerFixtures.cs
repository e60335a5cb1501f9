using System.IO.Compression;
using System.Text.Json;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Model.Tests.Tokenization;

/// <summary>
/// The real tokenizer files under tests/fixtures/tokenizers (gzipped tokenizer.json), unpacked once per test run
/// into a temp directory, and the golden cases produced by make_golden.js with HF's tokenizers library.
/// </summary>
public static class TokenizerFixtures
{
    public static readonly string[] Families = ["llama3", "qwen3", "gpt2", "mistral"];

    private static readonly Dictionary<string, HuggingFaceTokenizer> Loaded = [];
    private static readonly Lock Gate = new();
    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNameCaseInsensitive = true };

    public static string FixtureRoot { get; } = FindRoot();

    public static HuggingFaceTokenizer Load(string family)
    {
        lock (Gate)
        {
            if (Loaded.TryGetValue(family, out var cached)) return cached;
            var tok = TokenizerLoader.FromDirectory(Unpack(family));
            Loaded[family] = tok;
            return tok;
        }
    }

    /// <summary>A model-like directory holding tokenizer.json and tokenizer_config.json for <paramref name="family"/>.</summary>
    public static string Unpack(string family)
    {
        var dir = Path.Combine(Path.GetTempPath(), "lorasqueeze-tok-fixtures", family);
        var target = Path.Combine(dir, "tokenizer.json");
        var source = Path.Combine(FixtureRoot, family, "tokenizer.json.gz");
        if (!File.Exists(target) || File.GetLastWriteTimeUtc(target) < File.GetLastWriteTimeUtc(source))
        {
            Directory.CreateDirectory(dir);
            var tmp = target + "." + Environment.ProcessId + ".tmp";
            using (var input = new GZipStream(File.OpenRead(source), CompressionMode.Decompress))
            using (var output = File.Create(tmp))
                input.CopyTo(output);
            File.Move(tmp, target, overwrite: true);
        }
        File.Copy(Path.Combine(FixtureRoot, family, "tokenizer_config.json"), Path.Combine(dir, "tokenizer_config.json"), overwrite: true);
        return dir;
    }

    public sealed record GoldenCase(string Text, int[] Ids, int[] IdsWithSpecial, string[] Tokens, string Decoded, string DecodedWithSpecial);

    public sealed record GoldenFile(string Library, string Family, GoldenCase[] Cases);

    public static GoldenFile Golden(string family)
    {
        var json = File.ReadAllText(Path.Combine(FixtureRoot, family + ".golden.json"));
        return JsonSerializer.Deserialize<GoldenFile>(json, JsonOptions)!;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, "tests", "fixtures", "tokenizers");
            if (Directory.Exists(candidate)) return candidate;
        }
        throw new DirectoryNotFoundException("tests/fixtures/tokenizers not found above " + AppContext.BaseDirectory);
    }
}
