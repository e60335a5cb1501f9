using LoraSqueeze.Training.Data;

namespace LoraSqueeze.Training.Tests;

public class DataTests
{
    [Fact]
    public void Jsonl_reads_both_forms_and_names_bad_lines()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "{\"text\": \"hello\"}\n\n{\"prompt\": \"Q\", \"completion\": \"A\"}\n");
            var ex = JsonlReader.Read(path);
            Assert.Equal(2, ex.Count);
            Assert.True(ex[0].IsPlainText);
            Assert.Equal(("Q", "A"), (ex[1].Prompt, ex[1].Completion));

            File.WriteAllText(path, "{\"text\": \"ok\"}\n{\"prompt\": \"only\"}\n");
            var err = Assert.Throws<InvalidDataException>(() => JsonlReader.Read(path));
            Assert.Contains(":2:", err.Message);
            File.WriteAllText(path, "not json\n");
            Assert.Contains(":1:", Assert.Throws<InvalidDataException>(() => JsonlReader.Read(path)).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Jsonl_round_trips_non_ascii()
    {
        var path = Path.GetTempFileName();
        try
        {
            JsonlReader.Write(path, [new TrainingExample("", "Grüße, señor \"x\""), new TrainingExample("p", "c")]);
            var back = JsonlReader.Read(path);
            Assert.Equal("Grüße, señor \"x\"", back[0].Completion);
            Assert.Contains("Grüße", File.ReadAllText(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Text_is_packed_so_every_token_is_a_target_once()
    {
        var rows = RowBuilder.Build([new TrainingExample("", "abcdefg"), new TrainingExample("", "hij")], ToyData.Chars(), seqLen: 4);
        // stream: BOS a b c d e f g EOS BOS h i j EOS = 14 tokens → windows of 5 with stride 4: starts 0, 4, 8.
        Assert.Equal(3, rows.Count);
        Assert.Equal(new[] { 1, 'a', 'b', 'c', 'd' }, rows[0].Ids);
        Assert.Equal(rows[0].Ids[^1], rows[1].Ids[0]); // windows overlap by exactly one token
        Assert.All(rows, r => Assert.Equal(new[] { false, true, true, true, true }, r.LossMask));
    }

    [Fact]
    public void Prompt_completion_counts_only_completion_and_eos()
    {
        var rows = RowBuilder.Build([new TrainingExample("ab", "xy")], ToyData.Chars(), seqLen: 8);
        var row = Assert.Single(rows);
        Assert.Equal(new[] { 1, 'a', 'b', 'x', 'y', 2, 0, 0, 0 }, row.Ids);
        // targets x, y, EOS count; prompt and padding do not.
        Assert.Equal(new[] { false, false, false, true, true, true, false, false, false }, row.LossMask);
    }

    [Fact]
    public void Batches_depend_only_on_seed_and_position()
    {
        var rows = ToyData.CountingRows(10, 7, 4);
        var a = new BatchSampler(rows, 3, seed: 5);
        var seen = new List<long[]>();
        for (int i = 0; i < 5; i++)
        {
            using var b = a.Next();
            seen.Add(b.Inputs.data<long>().ToArray());
        }
        // Resume a fresh sampler at the position after two batches: it must replay batches 3..5.
        var probe = new BatchSampler(rows, 3, seed: 5);
        probe.Next().Dispose();
        probe.Next().Dispose();
        var resumed = new BatchSampler(rows, 3, seed: 5, probe.Epoch, probe.Position);
        for (int i = 2; i < 5; i++)
        {
            using var b = resumed.Next();
            Assert.Equal(seen[i], b.Inputs.data<long>().ToArray());
        }
        Assert.NotEqual(BatchSampler.Permutation(7, 5, 0), BatchSampler.Permutation(7, 5, 1));
    }
}
