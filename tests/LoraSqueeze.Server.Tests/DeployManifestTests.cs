using System.Net;
using LoraSqueeze.Server.Hosting;
using LoraSqueeze.Testing;
using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;

namespace LoraSqueeze.Server.Tests;

/// <summary>
/// deploy/k8s checked offline (no cluster runs here): every manifest parses, and the ports, probe paths, labels, knobs
/// and metric names in the manifests and the endpoint picker's configuration are the ones a real server uses — its
/// ports come from the container args, its routes and metric names from a running server.
/// </summary>
public sealed class DeployManifestTests
{
    private static readonly string Folder = Path.Combine(RepositoryFolder.Root, "deploy", "k8s");

    private static List<YamlMappingNode> Documents(string file)
    {
        var yaml = new YamlStream();
        using (var reader = new StreamReader(Path.Combine(Folder, file))) yaml.Load(reader);
        return yaml.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    private static YamlNode At(YamlNode node, params object[] path)
    {
        foreach (var step in path)
        {
            node = step switch
            {
                string key => ((YamlMappingNode)node).Children[new YamlScalarNode(key)],
                int index => ((YamlSequenceNode)node).Children[index],
                _ => throw new ArgumentException("path steps are keys or indexes"),
            };
        }
        return node;
    }

    private static string Text(YamlNode node, params object[] path) => ((YamlScalarNode)At(node, path)).Value!;

    private static YamlMappingNode Kind(string file, string kind) => Documents(file).Single(d => Text(d, "kind") == kind);

    [Fact]
    public void Every_manifest_parses_and_the_kustomization_lists_what_exists()
    {
        var files = Directory.GetFiles(Folder, "*.yaml").Select(Path.GetFileName).ToList();
        Assert.All(files, f => Assert.NotEmpty(Documents(f!)));
        var kustomization = Documents("kustomization.yaml").Single();
        foreach (var resource in ((YamlSequenceNode)At(kustomization, "resources")).Children.Select(n => ((YamlScalarNode)n).Value!))
            Assert.Contains(resource, files);
        Assert.True(File.Exists(Path.Combine(Folder, "lorasqueeze.env")));
    }

    [Fact]
    public async Task Ports_probes_labels_and_metric_names_are_the_servers()
    {
        var deployment = Kind("deployment.yaml", "Deployment");
        var pod = At(deployment, "spec", "template");
        var container = At(pod, "spec", "containers", 0);
        var args = ((YamlSequenceNode)At(container, "args")).Children.Select(n => ((YamlScalarNode)n).Value!).ToList();
        int Flag(string name) => int.Parse(args.Single(a => a.StartsWith(name + "=", StringComparison.Ordinal))[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var ports = ((YamlSequenceNode)At(container, "ports")).Children.ToDictionary(p => Text(p, "name"), p => int.Parse(Text(p, "containerPort"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(Flag("--http-port"), ports["http"]);
        Assert.Equal(Flag("--port"), ports["grpc"]);
        Assert.Equal(Flag("--metrics-port"), ports["metrics"]);
        foreach (var probe in (string[])["startupProbe", "readinessProbe", "livenessProbe"])
        {
            Assert.Equal("/health", Text(container, probe, "httpGet", "path"));
            Assert.Equal("http", Text(container, probe, "httpGet", "port"));
        }
        Assert.Equal("lorasqueeze", Text(pod, "metadata", "labels", "llm-d.ai/engine-type"));

        var pool = Kind("inferencepool.yaml", "InferencePool");
        Assert.Equal("inference.networking.k8s.io/v1", Text(pool, "apiVersion"));
        Assert.Equal(ports["http"], int.Parse(Text(pool, "spec", "targetPorts", 0, "number"), System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(Text(pod, "metadata", "labels", "app"), Text(pool, "spec", "selector", "matchLabels", "app"));
        var route = Kind("httproute.yaml", "HTTPRoute");
        Assert.Equal(Text(pool, "metadata", "name"), Text(route, "spec", "rules", 0, "backendRefs", 0, "name"));
        Assert.Equal("InferencePool", Text(route, "spec", "rules", 0, "backendRefs", 0, "kind"));

        // The picker's engine config for this server's pods, and the metric names it reads: a real server must export each.
        var epp = Kind("epp-config.yaml", "EndpointPickerConfig");
        Assert.Equal("llm-d.ai/v1alpha1", Text(epp, "apiVersion"));
        var extractor = ((YamlSequenceNode)At(epp, "plugins")).Children.Single(p => Text(p, "type") == "core-metrics-extractor");
        var engine = ((YamlSequenceNode)At(extractor, "parameters", "engineConfigs")).Children
            .Single(e => Text(e, "name") == Text(pod, "metadata", "labels", "llm-d.ai/engine-type"));
        Assert.Contains(((YamlSequenceNode)At(epp, "plugins")).Children, p => Text(p, "type") == "lora-affinity-scorer");
        await using var server = await TestServer.StartAsync();
        await server.Inference.GenerateAsync(InferenceTests.Request("warm", DemoFixture.Assets.AdapterIds[0], maxTokens: 2));
        using var http = new HttpClient();
        var samples = PrometheusText.Parse(await http.GetStringAsync(new Uri($"http://{server.Endpoints.Http}/metrics")));
        foreach (var spec in (string[])["queuedRequestsSpec", "runningRequestsSpec", "kvUsageSpec", "loraSpec"])
            Assert.Contains(samples, s => s.Name == Text(engine, spec));
        var lora = samples.Single(s => s.Name == Text(engine, "loraSpec"));
        Assert.Equal(["max_lora", "running_lora_adapters", "waiting_lora_adapters"], lora.Labels.Keys.Order());
        using var health = await http.GetAsync(new Uri($"http://{server.Endpoints.Http}/health"));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public void The_env_knobs_are_real_server_options_with_valid_values()
    {
        var pairs = File.ReadAllLines(Path.Combine(Folder, "lorasqueeze.env")).Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split('=', 2)).ToList();
        Assert.All(pairs, p => Assert.StartsWith("LORASQUEEZE_SERVER__", p[0], StringComparison.Ordinal));
        // The keys as the server's environment provider reads them (LORASQUEEZE_ stripped, __ → :), bound strictly.
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(
            pairs.Select(p => new KeyValuePair<string, string?>(p[0]["LORASQUEEZE_".Length..].Replace("__", ":", StringComparison.Ordinal), p[1]))).Build();
        var options = new ServerOptions { ModelPath = "/models/base" };
        configuration.GetSection(ServerOptions.SectionName).Bind(options, b => b.ErrorOnUnknownConfiguration = true);
        options.Validate();
        Assert.Equal(16, options.TargetRank);
        Assert.Equal("bfloat16", options.SlotDType);
    }
}
