using System.Text.Encodings.Web;
using System.Text.Json;

namespace LoraSqueeze.Training.Data;

/// <summary>
/// Reads training JSONL: one object per line, either <c>{"text": "..."}</c> or <c>{"prompt": "...", "completion": "..."}</c>
/// (the two forms may be mixed). Blank lines are skipped; anything else is an error naming the file and line.
/// </summary>
public static class JsonlReader
{
    // Keep accents and umlauts readable in the files we write (the JSON stays valid either way).
    private static readonly JsonSerializerOptions WriteOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static List<TrainingExample> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: training data not found", path);
        var examples = new List<TrainingExample>();
        int lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            examples.Add(Parse(line, path, lineNo));
        }
        if (examples.Count == 0) throw new InvalidDataException($"{path}: no examples");
        return examples;
    }

    public static TrainingExample Parse(string line, string path, int lineNo)
    {
        JsonDocument doc;
        try
        {
            doc = JsonDocument.Parse(line);
        }
        catch (JsonException ex)
        {
            throw new InvalidDataException($"{path}:{lineNo}: not valid JSON ({ex.Message})", ex);
        }
        using (doc)
        {
            var root = doc.RootElement;
            if (root.ValueKind != JsonValueKind.Object) throw new InvalidDataException($"{path}:{lineNo}: expected a JSON object");
            string? Get(string name) =>
                root.TryGetProperty(name, out var v)
                    ? v.ValueKind == JsonValueKind.String ? v.GetString() : throw new InvalidDataException($"{path}:{lineNo}: \"{name}\" must be a string")
                    : null;
            var text = Get("text");
            var prompt = Get("prompt");
            var completion = Get("completion");
            if (text is not null)
            {
                if (prompt is not null || completion is not null)
                    throw new InvalidDataException($"{path}:{lineNo}: use either \"text\" or \"prompt\"/\"completion\", not both");
                return new TrainingExample("", text);
            }
            if (prompt is null || completion is null)
                throw new InvalidDataException($"{path}:{lineNo}: expected {{\"text\": ...}} or {{\"prompt\": ..., \"completion\": ...}}");
            return new TrainingExample(prompt, completion);
        }
    }

    /// <summary>Writes examples as JSONL (text lines when the prompt is empty).</summary>
    public static void Write(string path, IEnumerable<TrainingExample> examples)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var w = new StreamWriter(path, false, new System.Text.UTF8Encoding(false));
        foreach (var e in examples)
        {
            w.Write(e.IsPlainText
                ? JsonSerializer.Serialize(new Dictionary<string, string> { ["text"] = e.Completion }, WriteOptions)
                : JsonSerializer.Serialize(new Dictionary<string, string> { ["prompt"] = e.Prompt, ["completion"] = e.Completion }, WriteOptions));
            w.Write('\n');
        }
    }
}
