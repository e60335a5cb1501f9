using System.Text.Json;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Training.Tokenization;

/// <summary>Settings of <see cref="BpeTrainer"/>.</summary>
public sealed record BpeTrainerOptions
{
    /// <summary>Llama-3's pre-tokenizer pattern (digits in groups of up to three).</summary>
    public const string Llama3Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    /// <summary>Total vocabulary size: 256 byte tokens + merges + special tokens.</summary>
    public int VocabSize { get; init; } = 4096;

    /// <summary>A pair seen fewer times than this is never merged (training then stops early).</summary>
    public int MinFrequency { get; init; } = 2;

    /// <summary>Special tokens, given the last ids. The first is BOS (added by the post-processor), the second EOS.</summary>
    public IReadOnlyList<string> SpecialTokens { get; init; } = ["<|begin_of_text|>", "<|end_of_text|>", "<|pad|>"];

    public string Pattern { get; init; } = Llama3Pattern;

    /// <summary>
    /// A plain chat template: BOS, then each message as <c>&lt;|role|&gt;</c>, a newline and its trimmed text, then
    /// <c>&lt;|assistant|&gt;</c> for the generation prompt. Role markers are plain text (not special tokens), so a
    /// model trained on plain text needs nothing new to read them.
    /// </summary>
    public const string PlainChatTemplate =
        "{{- bos_token }}\n" +
        "{%- for message in messages %}\n" +
        "    {{- '<|' + message['role'] + '|>\\n' + (message['content'] if message['content'] is string else '') | trim + '\\n' }}\n" +
        "{%- endfor %}\n" +
        "{%- if add_generation_prompt %}\n" +
        "    {{- '<|assistant|>\\n' }}\n" +
        "{%- endif %}\n";

    /// <summary>Written as <c>chat_template</c> into tokenizer_config.json (null: none).</summary>
    public string? ChatTemplate { get; init; } = PlainChatTemplate;
}

/// <summary>The learned vocabulary (index = id) and merges, writable as a Hugging Face tokenizer.</summary>
public sealed record BpeTrainingResult(IReadOnlyList<string> Vocab, IReadOnlyList<(string Left, string Right)> Merges, BpeTrainerOptions Options)
{
    /// <summary>Writes <c>tokenizer.json</c> and <c>tokenizer_config.json</c> into <paramref name="directory"/>.</summary>
    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var specials = Options.SpecialTokens;
        int firstSpecial = Vocab.Count - specials.Count;
        var writerOptions = new JsonWriterOptions { Indented = true };

        using (var stream = File.Create(Path.Combine(directory, "tokenizer.json")))
        using (var w = new Utf8JsonWriter(stream, writerOptions))
        {
            w.WriteStartObject();
            w.WriteString("version", "1.0");
            w.WriteNull("truncation");
            w.WriteNull("padding");
            w.WriteStartArray("added_tokens");
            for (int i = 0; i < specials.Count; i++)
            {
                w.WriteStartObject();
                w.WriteNumber("id", firstSpecial + i);
                w.WriteString("content", specials[i]);
                w.WriteBoolean("single_word", false);
                w.WriteBoolean("lstrip", false);
                w.WriteBoolean("rstrip", false);
                w.WriteBoolean("normalized", false);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteNull("normalizer");
            w.WriteStartObject("pre_tokenizer");
            w.WriteString("type", "Sequence");
            w.WriteStartArray("pretokenizers");
            w.WriteStartObject();
            w.WriteString("type", "Split");
            w.WriteStartObject("pattern");
            w.WriteString("Regex", Options.Pattern);
            w.WriteEndObject();
            w.WriteString("behavior", "Isolated");
            w.WriteBoolean("invert", false);
            w.WriteEndObject();
            WriteByteLevel(w, null);
            w.WriteEndArray();
            w.WriteEndObject();
            WritePostProcessor(w, specials.Count > 0 ? specials[0] : null, firstSpecial);
            WriteByteLevel(w, "decoder");
            w.WriteStartObject("model");
            w.WriteString("type", "BPE");
            w.WriteNull("dropout");
            w.WriteNull("unk_token");
            w.WriteNull("continuing_subword_prefix");
            w.WriteNull("end_of_word_suffix");
            w.WriteBoolean("fuse_unk", false);
            w.WriteBoolean("byte_fallback", false);
            w.WriteBoolean("ignore_merges", false);
            w.WriteStartObject("vocab");
            for (int id = 0; id < firstSpecial; id++) w.WriteNumber(Vocab[id], id);
            w.WriteEndObject();
            w.WriteStartArray("merges");
            foreach (var (left, right) in Merges)
            {
                w.WriteStartArray();
                w.WriteStringValue(left);
                w.WriteStringValue(right);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
        }

        using (var stream = File.Create(Path.Combine(directory, "tokenizer_config.json")))
        using (var w = new Utf8JsonWriter(stream, writerOptions))
        {
            w.WriteStartObject();
            w.WriteString("tokenizer_class", "PreTrainedTokenizerFast");
            if (specials.Count > 0) w.WriteString("bos_token", specials[0]);
            if (specials.Count > 1) w.WriteString("eos_token", specials[1]);
            if (specials.Count > 2) w.WriteString("pad_token", specials[2]);
            w.WriteBoolean("add_bos_token", specials.Count > 0);
            w.WriteBoolean("add_eos_token", false);
            w.WriteBoolean("clean_up_tokenization_spaces", false);
            if (Options.ChatTemplate is { } template) w.WriteString("chat_template", template);
            w.WriteStartObject("added_tokens_decoder");
            for (int i = 0; i < specials.Count; i++)
            {
                w.WriteStartObject((firstSpecial + i).ToString(System.Globalization.CultureInfo.InvariantCulture));
                w.WriteString("content", specials[i]);
                w.WriteBoolean("special", true);
                w.WriteEndObject();
            }
            w.WriteEndObject();
            w.WriteEndObject();
        }
    }

    private static void WriteByteLevel(Utf8JsonWriter w, string? property)
    {
        if (property is null) w.WriteStartObject();
        else w.WriteStartObject(property);
        w.WriteString("type", "ByteLevel");
        w.WriteBoolean("add_prefix_space", false);
        w.WriteBoolean("trim_offsets", false);
        w.WriteBoolean("use_regex", false);
        w.WriteEndObject();
    }

    private static void WritePostProcessor(Utf8JsonWriter w, string? bos, int bosId)
    {
        if (bos is null)
        {
            w.WriteNull("post_processor");
            return;
        }
        // TemplateProcessing "single": BOS then the sequence, as Meta's Llama-3 tokenizer.json does.
        w.WriteStartObject("post_processor");
        w.WriteString("type", "TemplateProcessing");
        foreach (var name in new[] { "single", "pair" })
        {
            w.WriteStartArray(name);
            foreach (var seq in name == "single" ? ["A"] : new[] { "A", "B" })
            {
                w.WriteStartObject();
                w.WriteStartObject("SpecialToken");
                w.WriteString("id", bos);
                w.WriteNumber("type_id", seq == "A" ? 0 : 1);
                w.WriteEndObject();
                w.WriteEndObject();
                w.WriteStartObject();
                w.WriteStartObject("Sequence");
                w.WriteString("id", seq);
                w.WriteNumber("type_id", seq == "A" ? 0 : 1);
                w.WriteEndObject();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteStartObject("special_tokens");
        w.WriteStartObject(bos);
        w.WriteString("id", bos);
        w.WriteStartArray("ids");
        w.WriteNumberValue(bosId);
        w.WriteEndArray();
        w.WriteStartArray("tokens");
        w.WriteStringValue(bos);
        w.WriteEndArray();
        w.WriteEndObject();
        w.WriteEndObject();
        w.WriteEndObject();
    }
}

/// <summary>
/// Learns a byte-level BPE vocabulary (GPT-2/Llama-3 style) from text, like HF's <c>BpeTrainer</c>
/// (<c>tokenizers/src/models/bpe/trainer.rs</c>): words are counted once after pre-tokenization; pair counts and the
/// words holding each pair are kept incrementally, and a max-heap with lazy re-checks picks the next merge, so a
/// merge costs time in the words it touches, not in the corpus size. Ties break on the smaller pair of ids.
/// </summary>
public sealed class BpeTrainer
{
    private readonly BpeTrainerOptions _options;
    private readonly PatternSplitter _splitter;
    private readonly Dictionary<string, int> _wordCounts = new(StringComparer.Ordinal);

    public BpeTrainer(BpeTrainerOptions? options = null)
    {
        _options = options ?? new BpeTrainerOptions();
        if (_options.VocabSize < 256 + _options.SpecialTokens.Count)
            throw new ArgumentException($"VocabSize must be at least 256 + {_options.SpecialTokens.Count} special tokens.", nameof(options));
        _splitter = new PatternSplitter(_options.Pattern);
    }

    /// <summary>Adds text to the corpus (pre-tokenized and counted now; the text itself is not kept).</summary>
    public void Feed(string text)
    {
        foreach (var (start, length) in _splitter.Matches(text))
        {
            var word = ByteLevelAlphabet.Encode(text.AsSpan(start, length));
            _wordCounts[word] = _wordCounts.GetValueOrDefault(word) + 1;
        }
    }

    public BpeTrainingResult Train()
    {
        var vocab = new List<string>(_options.VocabSize);
        var idOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int b = 0; b < 256; b++)
        {
            var s = ByteLevelAlphabet.ByteToChar((byte)b).ToString();
            idOf[s] = vocab.Count;
            vocab.Add(s);
        }

        var words = new List<List<int>>(_wordCounts.Count);
        var counts = new List<long>(_wordCounts.Count);
        foreach (var (word, count) in _wordCounts)
        {
            var symbols = new List<int>(word.Length);
            foreach (char c in word) symbols.Add(idOf[c.ToString()]);
            words.Add(symbols);
            counts.Add(count);
        }

        var pairCounts = new Dictionary<long, long>();
        var pairWords = new Dictionary<long, HashSet<int>>();
        for (int w = 0; w < words.Count; w++) AddPairs(words[w], counts[w], w, +1, pairCounts, pairWords);

        var heap = new PriorityQueue<long, (long Count, long Key)>(Comparer<(long Count, long Key)>.Create(
            static (x, y) => x.Count != y.Count ? y.Count.CompareTo(x.Count) : x.Key.CompareTo(y.Key)));
        foreach (var (key, count) in pairCounts) heap.Enqueue(key, (count, key));

        var merges = new List<(string, string)>();
        int targetMerged = _options.VocabSize - _options.SpecialTokens.Count;
        var touched = new HashSet<long>();
        while (vocab.Count < targetMerged && heap.TryDequeue(out long pair, out var priority))
        {
            long current = pairCounts.GetValueOrDefault(pair);
            if (current != priority.Count)
            {
                if (current > 0) heap.Enqueue(pair, (current, pair));
                continue;
            }
            if (current < _options.MinFrequency) break;

            int a = (int)(pair >> 32), b = (int)(uint)pair;
            // Two merge paths can spell the same token ("ab"+"c", "a"+"bc"); it keeps its first id, as in HF.
            var token = vocab[a] + vocab[b];
            if (!idOf.TryGetValue(token, out int merged))
            {
                merged = vocab.Count;
                idOf[token] = merged;
                vocab.Add(token);
            }
            merges.Add((vocab[a], vocab[b]));

            touched.Clear();
            foreach (int w in pairWords[pair].ToArray())
            {
                var symbols = words[w];
                if (!Contains(symbols, a, b)) continue;
                // Re-count the whole (short) word: remove its old pairs, merge, add the new ones.
                AddPairs(symbols, counts[w], w, -1, pairCounts, pairWords, touched);
                var next = new List<int>(symbols.Count);
                for (int i = 0; i < symbols.Count; i++)
                {
                    if (i + 1 < symbols.Count && symbols[i] == a && symbols[i + 1] == b)
                    {
                        next.Add(merged);
                        i++;
                    }
                    else
                    {
                        next.Add(symbols[i]);
                    }
                }
                words[w] = next;
                AddPairs(next, counts[w], w, +1, pairCounts, pairWords, touched);
            }
            pairWords.Remove(pair);
            pairCounts.Remove(pair);
            foreach (long key in touched)
                if (key != pair && pairCounts.TryGetValue(key, out long c) && c > 0) heap.Enqueue(key, (c, key));
        }

        vocab.AddRange(_options.SpecialTokens);
        return new BpeTrainingResult(vocab, merges, _options);
    }

    /// <summary>Convenience: feeds every text and trains.</summary>
    public static BpeTrainingResult Train(IEnumerable<string> texts, BpeTrainerOptions? options = null)
    {
        var trainer = new BpeTrainer(options);
        foreach (var text in texts) trainer.Feed(text);
        return trainer.Train();
    }

    private static bool Contains(List<int> symbols, int a, int b)
    {
        for (int i = 0; i + 1 < symbols.Count; i++)
            if (symbols[i] == a && symbols[i + 1] == b) return true;
        return false;
    }

    private static void AddPairs(List<int> symbols, long count, int word, int sign, Dictionary<long, long> pairCounts,
        Dictionary<long, HashSet<int>> pairWords, HashSet<long>? touched = null)
    {
        for (int i = 0; i + 1 < symbols.Count; i++)
        {
            long key = ((long)symbols[i] << 32) | (uint)symbols[i + 1];
            pairCounts[key] = pairCounts.GetValueOrDefault(key) + sign * count;
            touched?.Add(key);
            if (sign > 0)
            {
                if (!pairWords.TryGetValue(key, out var set)) pairWords[key] = set = [];
                set.Add(word);
            }
        }
    }
}
