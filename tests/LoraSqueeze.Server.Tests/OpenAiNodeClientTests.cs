using LoraSqueeze.Testing;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// The official OpenAI library for Node against the real server: legacy completions (unary, streamed with the usage
/// chunk, logprobs, echo, seeded n), their typed errors, and a chat call (OpenAiNode/completions-check.mjs). The .NET
/// library cannot send legacy completions (its LegacyCompletionClient has no public methods in 2.15.0), so this is
/// the official client for that interface. Node and npm come from the machine (.ci/run installs them); the package
/// is installed from the committed lock file on first use.
/// </summary>
public sealed class OpenAiNodeClientTests
{
    private static readonly string Folder = Path.Combine(RepositoryFolder.Root, "tests", "LoraSqueeze.Server.Tests", "OpenAiNode");

    [Fact]
    public async Task The_official_node_client_completes_streams_and_reads_errors()
    {
        if (!Directory.Exists(Path.Combine(Folder, "node_modules", "openai")))
        {
            var (code, stdout, stderr) = ChildProcess.Run("npm", ["ci", "--no-audit", "--no-fund", "--prefix", Folder], TimeSpan.FromMinutes(5));
            Assert.True(code == 0, $"npm ci failed ({code}); the test needs node and npm (.ci/run installs them):\n{stdout}\n{stderr}");
        }
        await using var server = await TestServer.StartAsync();
        var (exit, output, errors) = await Task.Run(() => ChildProcess.Run("node",
            [Path.Combine(Folder, "completions-check.mjs"), server.OpenAiBaseUri.ToString(), DemoFixture.Assets.AdapterIds[0], server.ServedModel],
            TimeSpan.FromMinutes(2)));
        Assert.True(exit == 0, $"node check failed ({exit}):\n{output}\n{errors}");
        Assert.Contains("\"ok\":true", output, StringComparison.Ordinal);
    }
}
