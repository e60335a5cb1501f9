using LoraSqueeze.Core.Units;
using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Server.Hosting;

namespace LoraSqueeze.Server.Tests;

/// <summary>Pieces with no model behind them: path containment, sizes, options.</summary>
public sealed class UnitTests
{
    [Fact]
    public void Path_resolver_keeps_sources_inside_the_roots()
    {
        var root = Directory.CreateTempSubdirectory("lsq-root-").FullName;
        var outside = Directory.CreateTempSubdirectory("lsq-out-").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(root, "good"));
            Directory.CreateDirectory(Path.Combine(root, "nested", "deep"));
            File.CreateSymbolicLink(Path.Combine(root, "link-out"), outside);
            Directory.CreateSymbolicLink(Path.Combine(root, "link-in"), Path.Combine(root, "good"));
            var resolver = new AdapterPathResolver([root]);

            Assert.Equal(Path.Combine(root, "good"), resolver.ResolveSource("good"));
            Assert.Equal(Path.Combine(root, "nested", "deep"), resolver.ResolveSource(Path.Combine(root, "nested", "deep")));
            Assert.Equal(Path.Combine(root, "link-in"), resolver.ResolveSource("link-in"));
            Assert.Throws<AdapterPathException>(() => resolver.ResolveSource("../x"));
            Assert.Throws<AdapterPathException>(() => resolver.ResolveSource("good/../../x"));
            Assert.Throws<AdapterPathException>(() => resolver.ResolveSource(outside));
            Assert.Throws<AdapterPathException>(() => resolver.ResolveSource("link-out"));
            Assert.Throws<DirectoryNotFoundException>(() => resolver.ResolveSource("missing"));
            Assert.Null(resolver.FindById("link-out"));
            Assert.Null(resolver.FindById("../good"));
            Assert.NotNull(resolver.FindById("good"));
            Assert.Throws<AdapterPathException>(() => new AdapterPathResolver([]).ResolveSource("good"));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
            Directory.Delete(outside, recursive: true);
        }
    }

    [Theory]
    [InlineData("demo-r4", true)]
    [InlineData("a.b_c-1", true)]
    [InlineData("", false)]
    [InlineData(".hidden", false)]
    [InlineData("a/b", false)]
    [InlineData("..", false)]
    public void Adapter_ids_are_plain_names(string id, bool valid) => Assert.Equal(valid, AdapterPathResolver.IsValidId(id));

    [Theory]
    [InlineData("1024", 1024L)]
    [InlineData("4KiB", 4096L)]
    [InlineData("1.5M", 1572864L)]
    [InlineData("2G", 2147483648L)]
    public void Byte_sizes_parse(string text, long bytes) => Assert.Equal(bytes, ByteSize.Parse(text));

    [Fact]
    public void Options_validation_names_the_bad_value()
    {
        var options = new ServerOptions { ModelPath = "/m", Slots = 0 };
        var ex = Assert.Throws<ArgumentException>(options.Validate);
        Assert.Contains("Slots", ex.Message);
    }
}
