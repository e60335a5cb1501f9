using System.Text.Json;
using LoraSqueeze.Cli.Commands;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Testing;
using static LoraSqueeze.Cli.Tests.CliProcess;

namespace LoraSqueeze.Cli.Tests;

/// <summary>`plan --json` against the model's shapes and the squeeze engine, and `tokenize --json` against the tokenizer.</summary>
public sealed class PlanAndTokenizeTests
{
    private static JsonElement Config()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(DemoFixture.Assets.ModelDir, "config.json")));
        return doc.RootElement.Clone();
    }

    /// <summary>Σ over the seven projections of one layer of (in + out), from config.json's own numbers.</summary>
    private static long InPlusOutPerLayer(JsonElement c)
    {
        long h = c.GetProperty("hidden_size").GetInt64();
        long i = c.GetProperty("intermediate_size").GetInt64();
        long heads = c.GetProperty("num_attention_heads").GetInt64();
        long kvHeads = c.TryGetProperty("num_key_value_heads", out var kv) ? kv.GetInt64() : heads;
        long headDim = c.TryGetProperty("head_dim", out var hd) && hd.ValueKind == JsonValueKind.Number ? hd.GetInt64() : h / heads;
        long q = heads * headDim, k = kvHeads * headDim;
        (long In, long Out)[] projections = [(h, q), (h, k), (h, k), (q, h), (h, i), (h, i), (i, h)]; // q k v o gate up down
        return projections.Sum(p => p.In + p.Out);
    }

    [Fact]
    public void Plan_accepts_exactly_the_slot_dtypes_serve_accepts()
    {
        var config = Config();
        long layers = config.GetProperty("num_hidden_layers").GetInt64();
        long perRank = InPlusOutPerLayer(config) * layers;
        var (code, stdout, stderr) = Run("plan", "--model", DemoFixture.Assets.ModelDir, "--rank", "8", "--budget", "3MiB", "--dtype", "int8", "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var row = doc.RootElement.GetProperty("ranks").EnumerateArray().Single(r => r.GetProperty("rank").GetInt32() == 8);
        // int8 factors (1 byte each) plus one float32 scale per row of A and of B in each of the 7·layers modules.
        Assert.Equal(8 * perRank + 7 * layers * 2 * 8 * 4, row.GetProperty("deviceBytesPerAdapter").GetInt64());
        Assert.Equal(8 * perRank * 4, row.GetProperty("hostBytesPerAdapter").GetInt64());

        var error = AssertCleanError(Run("plan", "--model", DemoFixture.Assets.ModelDir, "--rank", "8", "--budget", "3MiB", "--dtype", "float16"), "--dtype");
        Assert.Contains("float32, bfloat16 or int8", error);
    }

    [Fact]
    public void Plan_json_numbers_follow_the_model_shapes()
    {
        const long budget = 3L << 20, hostBudget = 10L << 20;
        var (code, stdout, stderr) = Run("plan", "--model", DemoFixture.Assets.ModelDir, "--rank", "8", "--budget", "3MiB",
            "--host-budget", "10MiB", "--adapters", DemoFixture.Assets.AdapterRoot, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var plan = doc.RootElement;
        var config = Config();
        long layers = config.GetProperty("num_hidden_layers").GetInt64();
        long perRank = InPlusOutPerLayer(config) * layers;
        Assert.Equal(perRank, plan.GetProperty("parametersPerRank").GetInt64());

        var rows = plan.GetProperty("ranks").EnumerateArray().ToList();
        Assert.Contains(rows, r => r.GetProperty("rank").GetInt32() == 8);
        double previous = 0;
        foreach (var row in rows)
        {
            int r = row.GetProperty("rank").GetInt32();
            long bytes = r * perRank * 4; // float32 factors: r·(in+out) per projection per layer, 4 bytes each
            Assert.Equal(bytes, row.GetProperty("deviceBytesPerAdapter").GetInt64());
            Assert.Equal(bytes, row.GetProperty("hostBytesPerAdapter").GetInt64());
            Assert.Equal(budget / bytes, row.GetProperty("deviceSlots").GetInt64());
            Assert.Equal(hostBudget / bytes, row.GetProperty("hostAdapters").GetInt64());
            // More rank never keeps less energy; rank ≥ 16 keeps all of every demo adapter (ranks 4, 8, 16).
            double mean = row.GetProperty("meanRetainedEnergy").GetDouble();
            Assert.True(mean >= previous - 1e-12, $"energy fell at rank {r}");
            if (r >= 16) Assert.Equal(1.0, mean, 6);
            previous = mean;
        }
        var adapters = plan.GetProperty("adapters").EnumerateArray()
            .ToDictionary(a => a.GetProperty("adapter").GetString()!, a => a.GetProperty("retainedEnergyAtRank").GetDouble());
        Assert.Equal(["demo-r16", "demo-r4", "demo-r8"], adapters.Keys.Order());
        Assert.Equal(1.0, adapters["demo-r4"], 6);
        Assert.Equal(1.0, adapters["demo-r8"], 6);
        Assert.InRange(adapters["demo-r16"], 0.01, 0.999);
    }

    [Fact]
    public void Plan_energies_equal_a_squeeze_at_every_rank()
    {
        // plan decomposes each adapter once; the numbers must be what squeezing to each rank reports.
        var plan = PlanCommand.Build(DemoFixture.Assets.ModelDir, 8, 1L << 20, null, [DemoFixture.Assets.AdapterRoot], "float32");
        var dirs = Directory.GetDirectories(DemoFixture.Assets.AdapterRoot).Order(StringComparer.Ordinal).ToList();
        foreach (var row in plan.Ranks)
        {
            var reports = dirs.Select(d =>
            {
                var (weights, report) = AdapterSqueezer.LoadAndSqueeze(d, row.Rank, new SqueezeOptions(), DemoFixture.Assets.ModelDir);
                weights.Dispose();
                return report;
            }).ToList();
            Assert.Equal(reports.Average(x => x.MeanRetainedEnergy), row.MeanRetainedEnergy!.Value, 9);
            Assert.Equal(reports.Min(x => x.MinRetainedEnergy), row.MinRetainedEnergy!.Value, 9);
            if (row.Rank == plan.Rank)
            {
                Assert.Equal(reports.Select(x => x.MeanRetainedEnergy), plan.Adapters.Select(a => a.RetainedEnergyAtRank),
                    (a, b) => Math.Abs(a - b) < 1e-9);
                Assert.Equal(reports.Select(x => string.Join(',', x.Modules.Select(m => m.SourceRank).Distinct().Order())),
                    plan.Adapters.Select(a => string.Join(',', a.SourceRanks)));
            }
        }
    }

    /// <summary>
    /// plan --data: each rank's KL and top-1 agreement are what `eval` measures for the same adapters on the same windows
    /// (mean and worst over adapters), KL is zero where the rank holds an adapter whole, and --min-energy gives each
    /// adapter the slots a server with that floor gives it (the squeeze's own choice of k).
    /// </summary>
    [Fact]
    public void Plan_with_data_reports_eval_kl_per_rank_and_the_slots_the_floor_gives()
    {
        var text = string.Join(' ', Enumerable.Repeat(DemoAssets.Corpus, 4));
        var file = Path.Combine(Path.GetTempPath(), $"lsq-plan-{Guid.NewGuid():N}.txt");
        File.WriteAllText(file, text);
        try
        {
            var floor = new EnergyFloor(0.999, 4);
            var plan = PlanCommand.Build(DemoFixture.Assets.ModelDir, 8, 1L << 20, null, [DemoFixture.Assets.AdapterRoot], "float32",
                new PlanCommand.FidelityData(text, 16, 4, null), floor);
            var dirs = Directory.GetDirectories(DemoFixture.Assets.AdapterRoot).Order(StringComparer.Ordinal).ToList();
            var ranks = plan.Ranks.Select(r => r.Rank).ToList();
            var evals = dirs.Select(d => EvalCommand.Run(DemoFixture.Assets.ModelDir, d, ranks, text, 16, 4, null)).ToList();
            for (int i = 0; i < ranks.Count; i++)
            {
                var row = plan.Ranks[i];
                Assert.Equal(evals.Average(e => e.Rows[i].MeanKl), row.MeanKl!.Value, 6);
                Assert.Equal(evals.Max(e => e.Rows[i].MeanKl), row.MaxKl!.Value, 6);
                Assert.Equal(evals.Average(e => e.Rows[i].Top1Agreement), row.Top1Agreement!.Value, 6);
            }
            Assert.True(plan.Ranks[0].MeanKl > plan.Ranks.First(r => r.Rank == 8).MeanKl, "a lower rank should cost more KL");
            foreach (var (a, dir) in plan.Adapters.Zip(dirs))
            {
                int source = a.SourceRanks.Max();
                if (source <= 8) Assert.True(Math.Abs(a.MeanKlAtRank!.Value) < 1e-5, $"{a.Adapter}: rank 8 holds it whole, KL {a.MeanKlAtRank}");
                using var adapter = Core.Adapters.AdapterReader.Read(dir, DemoFixture.Assets.ModelDir);
                var (weights, report) = AdapterSqueezer.Squeeze(adapter, 8, new SqueezeOptions { Floor = floor });
                weights.Dispose();
                Assert.Equal(report.RankMultiple, a.Slots);
                Assert.Equal(source > 8 ? 2 : 1, a.Slots);     // the rank-16 demo adapter needs 16 = 2 × 8 to keep 99.9 %
            }
            var row8 = plan.Ranks.Single(r => r.Rank == 8);
            Assert.Equal(plan.Adapters.Average(a => a.Slots), row8.SlotsPerAdapter!.Value, 9);

            // The same through the CLI, in text: the columns and the explanations are there.
            var png = Path.ChangeExtension(file, ".png");
            var (code, stdout, stderr) = Run("plan", "--model", DemoFixture.Assets.ModelDir, "--rank", "8", "--budget", "1MiB",
                "--adapters", DemoFixture.Assets.AdapterRoot, "--data", file, "--window", "16", "--windows", "4", "--min-energy", "0.999", "--plot", png);
            Assert.True(code == 0, stderr);
            Assert.True(new FileInfo(png).Length > 1000);
            File.Delete(png);
            Assert.Contains("mean KL", stdout);
            Assert.Contains("min energy: the same share for the single worst module", stdout);
            Assert.Contains("slots/adapter", stdout);
            Assert.Contains("2 slots under the floor", stdout);
            var error = AssertCleanError(Run("plan", "--model", DemoFixture.Assets.ModelDir, "--rank", "8", "--budget", "1MiB", "--data", file), "--adapters");
            Assert.Contains("--data", error);
            AssertCleanError(Run("plan", "--model", DemoFixture.Assets.ModelDir, "--rank", "8", "--budget", "1MiB",
                "--adapters", DemoFixture.Assets.AdapterRoot, "--min-energy", "1.5"), "--min-energy");
            AssertCleanError(Run("plan", "--model", DemoFixture.Assets.ModelDir, "--rank", "8", "--budget", "1MiB",
                "--adapters", DemoFixture.Assets.AdapterRoot, "--plot", "/tmp/x.png"), "--plot");
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Tokenize_json_matches_the_tokenizer()
    {
        const string text = "hello world, the cat sat";
        var (code, stdout, stderr) = Run("tokenize", "--model", DemoFixture.Assets.ModelDir, "--text", text, "--json");
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var root = doc.RootElement;
        var tokenizer = TokenizerLoader.FromDirectory(DemoFixture.Assets.ModelDir);
        var expected = tokenizer.Encode(text, addSpecialTokens: true);
        var ids = root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        Assert.Equal(expected, ids);
        Assert.Equal(ids.Length, root.GetProperty("count").GetInt32());
        Assert.Equal(ids.Select(tokenizer.IdToToken), root.GetProperty("tokens").EnumerateArray().Select(e => e.GetString()));
        Assert.Contains(text, root.GetProperty("decoded").GetString());
    }

    [Fact]
    public void Tokenize_chat_renders_the_conversation_with_the_template_and_the_generation_prompt()
    {
        string file = Path.Combine(Path.GetTempPath(), $"lsq-chat-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, """[{"role": "system", "content": "Be brief."}, {"role": "user", "content": " the cat sat "}]""");
        try
        {
            var (code, stdout, stderr) = Run("tokenize", "--model", DemoFixture.Assets.ModelDir, "--chat", file, "--json");
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var root = doc.RootElement;
            // The demo's template (BpeTrainerOptions.PlainChatTemplate): BOS, <|role|> lines with trimmed text, the prompt.
            string rendered = root.GetProperty("rendered").GetString()!;
            Assert.Equal("<|begin_of_text|><|system|>\nBe brief.\n<|user|>\nthe cat sat\n<|assistant|>\n", rendered);
            var tokenizer = TokenizerLoader.FromDirectory(DemoFixture.Assets.ModelDir);
            var ids = root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
            Assert.Equal(tokenizer.Encode(rendered, addSpecialTokens: false), ids);
            Assert.Equal(tokenizer.BosTokenId, ids[0]);                 // once: written by the template, not added again
            Assert.Equal(1, ids.Count(id => id == tokenizer.BosTokenId));

            var (plainCode, plain, _) = Run("tokenize", "--model", DemoFixture.Assets.ModelDir, "--chat", file);
            Assert.Equal(0, plainCode);
            Assert.Contains($"{ids.Length} tokens", plain, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Tokenize_chat_refuses_a_bad_conversation_with_one_error_line()
    {
        string file = Path.Combine(Path.GetTempPath(), $"lsq-chat-{Guid.NewGuid():N}.json");
        File.WriteAllText(file, """[{"content": "no role"}]""");
        try
        {
            AssertCleanError(Run("tokenize", "--model", DemoFixture.Assets.ModelDir, "--chat", file), "role");
            AssertCleanError(Run("tokenize", "--model", DemoFixture.Assets.ModelDir, "--chat", file + ".missing"), "does not exist");
            AssertCleanError(Run("tokenize", "--model", DemoFixture.Assets.ModelDir), "--text");
        }
        finally
        {
            File.Delete(file);
        }
    }
}
