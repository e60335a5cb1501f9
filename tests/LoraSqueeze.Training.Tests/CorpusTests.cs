using System.IO.Compression;
using System.Text;
using LoraSqueeze.Training.Corpora;
using LoraSqueeze.Training.Data;

namespace LoraSqueeze.Training.Tests;

/// <summary>The corpus readers on small synthetic files in each format (no Debian packages needed).</summary>
public class CorpusTests
{
    [Fact]
    public void Fortune_files_split_on_percent_lines()
    {
        var path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "First one\nspans lines\n%\nSecond\n%\n%\nThird, no trailing percent\n");
            Assert.Equal(["First one\nspans lines", "Second", "Third, no trailing percent"], FortuneFile.Read(path).ToArray());
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Dictd_index_offsets_are_base64_digits_into_the_gunzipped_dict()
    {
        Assert.Equal(0, DictdFile.Decode("A"));
        Assert.Equal(63, DictdFile.Decode("/"));
        Assert.Equal(64 * 46 + 32, DictdFile.Decode("ug")); // 'u' = 46, 'g' = 32
        var dir = Directory.CreateTempSubdirectory("ls-dictd").FullName;
        try
        {
            var body = "00-database-info\nmeta\nABASEMENT, n.  A decent attitude.\n\nABATIS, n.  Rubbish.\n";
            using (var gz = new GZipStream(File.Create(Path.Combine(dir, "d.dict.dz")), CompressionLevel.Fastest))
                gz.Write(Encoding.UTF8.GetBytes(body));
            int a = body.IndexOf("ABASEMENT", StringComparison.Ordinal), b = body.IndexOf("ABATIS", StringComparison.Ordinal);
            string Enc(long v)
            {
                const string digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                var s = "";
                do { s = digits[(int)(v % 64)] + s; v /= 64; } while (v > 0);
                return s;
            }
            File.WriteAllLines(Path.Combine(dir, "d.index"),
            [
                $"00databaseinfo\t{Enc(0)}\t{Enc(a)}",
                $"abasement\t{Enc(a)}\t{Enc(b - a)}",
                $"abatis\t{Enc(b)}\t{Enc(body.Length - b)}",
            ]);
            var entries = DictdFile.Read(Path.Combine(dir, "d.index"), Path.Combine(dir, "d.dict.dz")).ToList();
            Assert.Equal(["abasement", "abatis"], entries.Select(e => e.Headword));
            Assert.Equal("ABASEMENT, n. A decent attitude.", TextCleanup.Paragraphs(entries[0].Body)[0]);
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void Splits_are_deterministic_and_disjoint()
    {
        var all = Enumerable.Range(0, 1000).Select(i => new TrainingExample("", $"example {i}")).ToList();
        var (train, eval) = CorpusSplit.Split(all);
        var (train2, eval2) = CorpusSplit.Split(all);
        Assert.Equal(50, eval.Count);
        Assert.Equal(950, train.Count);
        Assert.Equal(eval, eval2);
        Assert.Equal(train, train2);
        Assert.Empty(train.Intersect(eval));
    }
}
