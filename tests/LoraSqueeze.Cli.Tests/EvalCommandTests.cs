using System.Text.Json;
using LoraSqueeze.Testing;
using static LoraSqueeze.Cli.Tests.CliProcess;

namespace LoraSqueeze.Cli.Tests;

/// <summary>`lorasqueeze eval` end to end: a row per rank, exact at the source rank, and bad arguments refused in one line.</summary>
public sealed class EvalCommandTests
{
    [Fact]
    public void Eval_json_reports_each_rank_and_writes_the_plot()
    {
        var demo = DemoFixture.Assets;
        string data = Path.Combine(Path.GetTempPath(), $"lsq-eval-{Guid.NewGuid():N}.txt");
        string png = Path.ChangeExtension(data, ".png");
        File.WriteAllText(data, DemoAssets.Corpus + " " + DemoAssets.Corpus);
        try
        {
            var (code, stdout, stderr) = Run("eval", "--model", demo.ModelDir, "--adapter", Path.Combine(demo.AdapterRoot, "demo-r4"),
                "--ranks", "4,1,2", "--data", data, "--window", "16", "--windows", "4", "--json", "--plot", png);
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var rows = doc.RootElement.GetProperty("rows").EnumerateArray().ToList();
            Assert.Equal([1, 2, 4], rows.Select(r => r.GetProperty("rank").GetInt32()));
            Assert.True(rows[2].GetProperty("meanKl").GetDouble() < 1e-5);
            Assert.True(rows[0].GetProperty("meanKl").GetDouble() > rows[2].GetProperty("meanKl").GetDouble());
            Assert.True(new FileInfo(png).Length > 1000);
        }
        finally
        {
            File.Delete(data);
            File.Delete(png);
        }
    }

    [Fact]
    public void Eval_of_a_folder_measures_every_adapter_in_name_order_on_the_same_windows()
    {
        var demo = DemoFixture.Assets;
        string data = Path.Combine(Path.GetTempPath(), $"lsq-evalall-{Guid.NewGuid():N}.txt");
        string png = Path.ChangeExtension(data, ".png");
        File.WriteAllText(data, DemoAssets.Corpus + " " + DemoAssets.Corpus);
        try
        {
            var (code, stdout, stderr) = Run("eval", "--model", demo.ModelDir, "--adapter", demo.AdapterRoot,
                "--ranks", "2,8", "--data", data, "--window", "16", "--windows", "3", "--json", "--plot", png);
            Assert.True(code == 0, stderr);
            using var doc = JsonDocument.Parse(stdout);
            var results = doc.RootElement.EnumerateArray().ToList();
            var names = Directory.GetDirectories(demo.AdapterRoot).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
            Assert.Equal(names, results.Select(r => r.GetProperty("adapter").GetString()));
            Assert.All(results, r => Assert.Equal(3 * 16, r.GetProperty("positions").GetInt32()));
            // The rank-16 adapter is the only one rank 8 does not hold whole.
            foreach (var r in results)
            {
                double kl8 = r.GetProperty("rows")[1].GetProperty("meanKl").GetDouble();
                if (r.GetProperty("adapter").GetString() == "demo-r16") Assert.True(kl8 > 1e-5);
                else Assert.True(kl8 < 1e-5, $"{r.GetProperty("adapter")}: KL {kl8} at rank 8");
            }
            Assert.True(new FileInfo(png).Length > 1000);
            // {adapter} names each adapter's own corpus: here there is none called like the demo's folders.
            var error = AssertCleanError(Run("eval", "--model", demo.ModelDir, "--adapter", demo.AdapterRoot, "--corpus", "{adapter}"), names[0]!);
            Assert.DoesNotContain("{adapter}", error);
        }
        finally
        {
            File.Delete(data);
            File.Delete(png);
        }
    }

    [Fact]
    public void Eval_refuses_bad_arguments_with_one_error_line()
    {
        var demo = DemoFixture.Assets;
        string adapter = Path.Combine(demo.AdapterRoot, "demo-r4");
        AssertCleanError(Run("eval", "--model", demo.ModelDir, "--adapter", adapter, "--ranks", "abc", "--data", "/etc/hostname"), "--ranks");
        AssertCleanError(Run("eval", "--model", demo.ModelDir, "--adapter", adapter), "--data");
        AssertCleanError(Run("eval", "--model", demo.ModelDir, "--adapter", adapter, "--data", "/no/such/file"), "no such file");
    }
}
