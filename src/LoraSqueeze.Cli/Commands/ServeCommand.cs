using System.CommandLine;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Core.Units;
using LoraSqueeze.Model;
using LoraSqueeze.Server.Hosting;
using LoraSqueeze.Testing;
using Microsoft.Extensions.Hosting;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze serve</c>: runs the gRPC server. With no model configured it serves the demo (trained assets under
/// <c>models/demo/</c> when present, otherwise a generated tiny model and adapters). Flags override appsettings.json
/// and <c>LORASQUEEZE_</c> environment variables.
/// </summary>
public static class ServeCommand
{
    public static void Attach(RootCommand root)
    {
        var model = new Option<string?>("--model") { Description = "Base model folder (Hugging Face layout). Default: the demo model." };
        var adapters = new Option<string[]>("--adapters") { Description = "Adapter root folder (repeatable)." };
        // Defaults in the help are the built-in ones (ServerOptions); appsettings.json, --config, the environment and
        // these flags override them in that order.
        var d = new ServerOptions();
        var config = new Option<string?>("--config") { Description = "Your own settings file (JSON, a \"Server\" section), read after the shipped appsettings.json and before the environment; a rebuild never overwrites it." };
        var port = new Option<int?>("--port") { Description = $"gRPC port (default {d.Port})." };
        var metricsPort = new Option<int?>("--metrics-port") { Description = $"/metrics port (default {d.MetricsPort}); /metrics is on --http-port too." };
        var httpPort = new Option<int?>("--http-port") { Description = $"OpenAI-compatible HTTP API port: /v1/..., /health, /metrics (default {d.HttpPort})." };
        var servedName = new Option<string?>("--served-model-name") { Description = "The base model's name in the OpenAI API's 'model' field (default: the model folder's name)." };
        var targetRank = new Option<int?>("--target-rank") { Description = $"Rank every adapter is squeezed to (default {d.TargetRank})." };
        var slots = new Option<int?>("--slots") { Description = $"Device adapter slots (default {d.Slots})." };
        var hostCache = new Option<string?>("--host-cache") { Description = $"Host cache budget, e.g. 512MiB (default {ByteSize.Format(d.HostCacheBytes)}; 0 = none)." };
        var maxBatch = new Option<int?>("--max-batch") { Description = $"Sequences per decode step (default {d.MaxBatch})." };
        var queue = new Option<int?>("--queue") { Description = $"Waiting requests before RESOURCE_EXHAUSTED (default {d.QueueLength})." };
        var warmup = new Option<int?>("--warmup-steps") { Description = $"Decode steps run at start-up before the server reports ready (default {d.WarmupSteps}; 0: none)." };
        var adminToken = new Option<string?>("--admin-token") { Description = "Bearer token for Adapters.Load/Unload (default: none, Load/Unload open); visible in ps, prefer --admin-token-file." };
        var adminTokenFile = new Option<string?>("--admin-token-file") { Description = "File whose first line is the admin token." };
        var device = new Option<string?>("--device") { Description = $"cpu, cuda or cuda:N (default {d.Device})." };
        var layout = new Option<LoraLayout?>("--lora-layout")
        {
            Description = "Slot layout: uniform (adapters squeezed to --target-rank; the default) or padded (vLLM/SGLang: slots of " +
                "--padded-max-rank, adapters at their own rank; for comparisons).",
        };
        var paddedMaxRank = new Option<int?>("--padded-max-rank") { Description = $"Slot rank of the padded layout (default {d.PaddedMaxRank})." };
        var weightDType = new Option<string?>("--weight-dtype") { Description = "Base weight storage: float32 (default), bfloat16 (half the bytes a step reads) or int8 (a quarter, per-row scales). CPU only." };
        var activationDType = new Option<string?>("--activation-dtype") { Description = "What int8 base weights multiply in decode steps: float32 rows (default) or int8 rows in blocks of 32 (llama.cpp's Q8_0 scheme; needs --weight-dtype int8)." };
        var slotDType = new Option<string?>("--slot-dtype") { Description = "Device slot storage: float32 (default), bfloat16 (half the bytes) or int8 (a quarter, per-row scales)." };
        var kernel = new Option<LoraKernel?>("--lora-kernel") { Description = "LoRA kernel: bgmv (default), segmented or gathered." };
        var minEnergy = new Option<double?>("--min-energy")
        {
            Description = "Energy floor in (0, 1] (default off): an adapter keeping less of its spectral energy in any module at --target-rank " +
                "is squeezed to k·rank on k slots instead (smallest k up to --max-slots-per-adapter).",
        };
        var maxSlotsPerAdapter = new Option<int?>("--max-slots-per-adapter") { Description = $"Most slots one adapter may take under --min-energy (default {d.MaxSlotsPerAdapter})." };
        var floorMeasure = new Option<string?>("--energy-floor-measure") { Description = "What --min-energy is checked against: worst-module (default) or mean (over modules)." };
        floorMeasure.AcceptOnlyFromAmong("worst-module", "mean");
        var belowFloor = new Option<string?>("--below-energy-floor") { Description = "An adapter that misses --min-energy even at the cap: refuse (default) or serve-at-cap." };
        var preload = new Option<bool>("--preload") { Description = "Load every adapter under the roots into the host tier at start-up (until the host cache is full)." };
        var cmd = new Command("serve", "Run the inference server: gRPC and the OpenAI-compatible HTTP API (the demo model when no --model is given).")
        {
            model, adapters, config, port, metricsPort, httpPort, servedName, targetRank, slots, hostCache, maxBatch, queue, warmup, adminToken, adminTokenFile, device,
            layout, paddedMaxRank, slotDType, weightDType, activationDType, kernel, minEnergy, maxSlotsPerAdapter, floorMeasure, belowFloor, preload,
        };
        // Everything, flag parsing included (--host-cache abc), runs inside CliErrors: one line on stderr, no trace.
        cmd.SetAction((parse, ct) => CliErrors.RunAsync(async () =>
        {
            var options = ServerConfiguration.Load(configFile: parse.GetValue(config), overrides: o =>
            {
                if (parse.GetValue(model) is { } m) o.ModelPath = m;
                if (parse.GetValue(adapters) is { Length: > 0 } roots) o.AdapterRoots = [.. roots];
                if (parse.GetValue(port) is { } p) o.Port = p;
                if (parse.GetValue(metricsPort) is { } mp) o.MetricsPort = mp;
                if (parse.GetValue(httpPort) is { } hp) o.HttpPort = hp;
                if (parse.GetValue(servedName) is { } sn) o.ServedModelName = sn;
                if (parse.GetValue(targetRank) is { } r) o.TargetRank = r;
                if (parse.GetValue(slots) is { } s) o.Slots = s;
                if (parse.GetValue(hostCache) is { } h) o.HostCacheBytes = ByteSize.Parse(h);
                if (parse.GetValue(maxBatch) is { } b) o.MaxBatch = b;
                if (parse.GetValue(queue) is { } q) o.QueueLength = q;
                if (parse.GetValue(warmup) is { } wu) o.WarmupSteps = wu;
                if (parse.GetValue(adminToken) is { } t) o.AdminToken = t;
                if (parse.GetValue(adminTokenFile) is { } tf) o.AdminTokenFile = tf;
                if (parse.GetValue(device) is { } d) o.Device = d;
                if (parse.GetValue(layout) is { } l) o.LoraLayout = l;
                if (parse.GetValue(paddedMaxRank) is { } pr) o.PaddedMaxRank = pr;
                if (parse.GetValue(slotDType) is { } sd) o.SlotDType = sd;
                if (parse.GetValue(weightDType) is { } wd) o.WeightDType = wd;
                if (parse.GetValue(activationDType) is { } ad) o.ActivationDType = ad;
                if (parse.GetValue(kernel) is { } k) o.LoraKernel = k;
                if (parse.GetValue(minEnergy) is { } me) o.MinRetainedEnergy = me;
                if (parse.GetValue(maxSlotsPerAdapter) is { } ms) o.MaxSlotsPerAdapter = ms;
                if (parse.GetValue(belowFloor) is { } bf) o.BelowEnergyFloor = bf;
                if (parse.GetValue(floorMeasure) is { } fm) o.EnergyFloorMeasure = fm == "mean" ? EnergyFloorMeasure.Mean : EnergyFloorMeasure.WorstModule;
                if (parse.GetValue(preload)) o.PreloadAdapters = true;
            });
            if (string.IsNullOrWhiteSpace(options.ModelPath)) UseDemo(options);
            try
            {
                options.Validate();
                var app = LoraSqueezeServer.Build(options, ServerBackends.ForModel(options));
                await app.StartAsync(ct);
                // Ctrl+C cancels ct (System.CommandLine) or stops the host (console lifetime); either ends the wait.
                await app.WaitForShutdownAsync(ct);
                await app.StopAsync(CancellationToken.None);
                return 0;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return 0;
            }
        }));
        root.Subcommands.Add(cmd);
    }

    /// <summary>
    /// Trained demo assets in models/demo/ win (under LORASQUEEZE_HOME, which the ./lorasqueeze script sets to the
    /// checkout, so `serve` finds them from any working directory; then under the working directory); otherwise the
    /// generated tiny model next to the program.
    /// </summary>
    private static void UseDemo(ServerOptions options)
    {
        var home = Environment.GetEnvironmentVariable("LORASQUEEZE_HOME");
        var candidates = new[] { home is { Length: > 0 } ? Path.Combine(home, "models", "demo") : null, Path.Combine("models", "demo") };
        var trained = candidates.Where(c => c is not null).Select(c => Path.GetFullPath(c!))
            .FirstOrDefault(c => File.Exists(Path.Combine(c, "model", "config.json"))) ?? Path.GetFullPath(Path.Combine("models", "demo"));
        DemoAssetPaths demo = File.Exists(Path.Combine(trained, "model", "config.json"))
            ? new DemoAssetPaths(Path.Combine(trained, "model"), Path.Combine(trained, "adapters"), [])
            : DemoAssets.Ensure(Path.Combine(AppContext.BaseDirectory, "demo"));
        options.ModelPath = demo.ModelDir;
        if (options.AdapterRoots.Count == 0) options.AdapterRoots = [demo.AdapterRoot];
        // The demo's folder is called "model"; in the OpenAI API it answers to "demo" unless a name is configured.
        if (options.ServedModelName.Length == 0) options.ServedModelName = "demo";
    }
}
