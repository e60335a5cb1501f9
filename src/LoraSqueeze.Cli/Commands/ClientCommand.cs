using System.CommandLine;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using LoraSqueeze.Protos.V1;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze client generate|load|unload|list|get</c>: a small gRPC client for a running server
/// (<c>--server http://127.0.0.1:50051</c> by default; <c>--admin-token</c> for load and unload).
/// </summary>
public static class ClientCommand
{
    public static void Attach(RootCommand root)
    {
        var server = new Option<string>("--server")
        {
            Description = "Server address.",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("LORASQUEEZE_SERVER") ?? "http://127.0.0.1:50051",
            Recursive = true,
        };
        var token = new Option<string?>("--admin-token")
        {
            Description = "Bearer token for load and unload (default: $LORASQUEEZE_ADMIN_TOKEN).",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("LORASQUEEZE_ADMIN_TOKEN"),
            Recursive = true,
        };
        var json = new Option<bool>("--json") { Description = "Print the reply as JSON.", Recursive = true };
        var client = new Command("client", "Talk to a running LoraSqueeze server.") { server, token, json };
        client.Subcommands.Add(Generate(server, json));
        client.Subcommands.Add(Load(server, token, json));
        client.Subcommands.Add(Unload(server, token, json));
        client.Subcommands.Add(List(server, json));
        client.Subcommands.Add(Get(server, json));
        root.Subcommands.Add(client);
    }

    private static Command Generate(Option<string> server, Option<bool> json)
    {
        var adapter = new Option<string>("--adapter") { Description = "Adapter id; omit for the base model.", DefaultValueFactory = _ => "" };
        var prompt = new Option<string>("--prompt") { Description = "Prompt text.", Required = true };
        var stream = new Option<bool>("--stream") { Description = "Print text as it is generated." };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens to generate (0: server default).", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature") { Description = "0 is greedy.", DefaultValueFactory = _ => 0.7f };
        var topP = new Option<float>("--top-p") { DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { DefaultValueFactory = _ => 0 };
        var repetition = new Option<float>("--repetition-penalty") { Description = "Above 1 discourages tokens already seen (1: off).", DefaultValueFactory = _ => 1f };
        var seed = new Option<ulong?>("--seed") { Description = "Makes sampling reproducible." };
        var stop = new Option<string[]>("--stop") { Description = "Stop string (repeatable).", AllowMultipleArgumentsPerToken = false };
        var logprobs = new Option<bool>("--logprobs") { Description = "Return token log-probabilities (with --json)." };
        var cmd = new Command("generate", "Generate text on the base model or an adapter.")
        {
            adapter, prompt, stream, maxTokens, temperature, topP, topK, repetition, seed, stop, logprobs,
        };
        cmd.SetAction(async (parse, ct) => await Call(parse.GetValue(server)!, async channel =>
        {
            var client = new Inference.InferenceClient(channel);
            var request = new GenerateRequest
            {
                Text = parse.GetValue(prompt)!,
                AdapterId = parse.GetValue(adapter) ?? "",
                Sampling = new SamplingOptions
                {
                    MaxTokens = parse.GetValue(maxTokens),
                    Temperature = parse.GetValue(temperature),
                    TopP = parse.GetValue(topP),
                    TopK = parse.GetValue(topK),
                    RepetitionPenalty = parse.GetValue(repetition),
                    Logprobs = parse.GetValue(logprobs),
                },
            };
            if (parse.GetValue(seed) is { } s) request.Sampling.Seed = s;
            request.Sampling.Stop.AddRange(parse.GetValue(stop) ?? []);
            if (!parse.GetValue(stream))
            {
                var reply = await client.GenerateAsync(request, cancellationToken: ct);
                if (parse.GetValue(json)) Print(reply);
                else Console.WriteLine($"{reply.Text}\n[{reply.FinishReason}, {reply.Usage.PromptTokens} prompt + {reply.Usage.CompletionTokens} generated tokens]");
                return;
            }
            using var call = client.GenerateStream(request, cancellationToken: ct);
            await foreach (var message in call.ResponseStream.ReadAllAsync(ct))
            {
                if (parse.GetValue(json))
                {
                    Print(message);
                    continue;
                }
                Console.Write(message.Text);
                if (message.FinishReason != FinishReason.Unspecified)
                    Console.WriteLine($"\n[{message.FinishReason}, {message.Usage.PromptTokens} prompt + {message.Usage.CompletionTokens} generated tokens]");
            }
        }));
        return cmd;
    }

    private static Command Load(Option<string> server, Option<string?> token, Option<bool> json)
    {
        var id = new Argument<string>("id") { Description = "Adapter id." };
        var source = new Option<string>("--source") { Description = "Adapter folder inside the server's adapter roots (default: <root>/<id>).", DefaultValueFactory = _ => "" };
        var rank = new Option<int?>("--rank") { Description = "Squeeze to this rank instead of the server's target rank." };
        var cmd = new Command("load", "Load (and squeeze) an adapter.") { id, source, rank };
        cmd.SetAction(async (parse, ct) => await Call(parse.GetValue(server)!, async channel =>
        {
            var request = new LoadAdapterRequest { AdapterId = parse.GetValue(id)!, Source = parse.GetValue(source) ?? "" };
            if (parse.GetValue(rank) is { } r) request.Rank = r;
            var reply = await new Adapters.AdaptersClient(channel).LoadAsync(request, Auth(parse.GetValue(token)), cancellationToken: ct);
            if (parse.GetValue(json)) Print(reply);
            else Console.WriteLine((reply.AlreadyLoaded ? "already loaded: " : "loaded: ") + Describe(reply.Adapter));
        }));
        return cmd;
    }

    private static Command Unload(Option<string> server, Option<string?> token, Option<bool> json)
    {
        var id = new Argument<string>("id") { Description = "Adapter id." };
        var cmd = new Command("unload", "Unload an adapter (its running requests finish first).") { id };
        cmd.SetAction(async (parse, ct) => await Call(parse.GetValue(server)!, async channel =>
        {
            var reply = await new Adapters.AdaptersClient(channel).UnloadAsync(
                new UnloadAdapterRequest { AdapterId = parse.GetValue(id)! }, Auth(parse.GetValue(token)), cancellationToken: ct);
            if (parse.GetValue(json)) Print(reply);
            else Console.WriteLine(reply.Unloaded ? "unloaded" : "was not loaded");
        }));
        return cmd;
    }

    private static Command List(Option<string> server, Option<bool> json)
    {
        var cmd = new Command("list", "List adapters in memory and on disk.");
        cmd.SetAction(async (parse, ct) => await Call(parse.GetValue(server)!, async channel =>
        {
            var reply = await new Adapters.AdaptersClient(channel).ListAsync(new ListAdaptersRequest(), cancellationToken: ct);
            if (parse.GetValue(json)) Print(reply);
            else foreach (var a in reply.Adapters) Console.WriteLine(Describe(a));
        }));
        return cmd;
    }

    private static Command Get(Option<string> server, Option<bool> json)
    {
        var id = new Argument<string>("id") { Description = "Adapter id." };
        var cmd = new Command("get", "Show one adapter: tier, pinned, hits, last use, squeeze.") { id };
        cmd.SetAction(async (parse, ct) => await Call(parse.GetValue(server)!, async channel =>
        {
            var reply = await new Adapters.AdaptersClient(channel).GetAsync(new GetAdapterRequest { AdapterId = parse.GetValue(id)! }, cancellationToken: ct);
            if (parse.GetValue(json)) Print(reply);
            else Console.WriteLine(Describe(reply));
        }));
        return cmd;
    }

    private static string Describe(AdapterInfo a)
    {
        string where = a.Slots.Count > 1 ? $" (slots {string.Join(',', a.Slots)})" : a.Slot >= 0 ? $" (slot {a.Slot})" : "";
        var text = $"{a.AdapterId}: {a.Tier.ToString().ToLowerInvariant()}{where}, " +
                   $"{(a.Pinned ? $"pinned by {a.ActiveRequests}" : "unpinned")}, {a.Hits} hits";
        if (a.LastUsed is not null) text += $", last used {a.LastUsed.ToDateTimeOffset():u}";
        if (a.Squeeze is { } s)
            text += $", {s.SourceKind} ranks [{string.Join(',', s.SourceRanks)}] -> {s.TargetRank}" + (s.SlotCount > 1 ? $" on {s.SlotCount} slots" : "") +
                    $", retained energy {s.RetainedEnergy:P2} (worst module {s.MinRetainedEnergy:P2}{(s.BelowEnergyFloor ? ", below the floor" : "")}), {a.Bytes} bytes, squeeze {s.SqueezeSeconds * 1000:F0} ms";
        return text;
    }

    private static Metadata? Auth(string? token) =>
        string.IsNullOrEmpty(token) ? null : new Metadata { { "authorization", $"Bearer {token}" } };

    private static void Print(Google.Protobuf.IMessage message) =>
        Console.WriteLine(JsonSerializer.Serialize(JsonDocument.Parse(Google.Protobuf.JsonFormatter.Default.Format(message)).RootElement, CliJson.Options));

    /// <summary>
    /// Runs one call; a gRPC error becomes one line on stderr and exit code 1, an unreachable server says so with its
    /// address, and anything else (a malformed --server) goes through <see cref="CliErrors"/>.
    /// </summary>
    private static Task<int> Call(string address, Func<GrpcChannel, Task> action) => CliErrors.RunAsync(async () =>
    {
        using var channel = GrpcChannel.ForAddress(address);
        try
        {
            await action(channel);
            return 0;
        }
        // A connection failure carries the client-side exception; an UNAVAILABLE sent by the server does not.
        catch (RpcException ex) when (ex.StatusCode == StatusCode.Unavailable && ex.Status.DebugException is not null)
        {
            await Console.Error.WriteLineAsync($"error: cannot reach the server at {address} (is `lorasqueeze serve` running there?): {ex.Status.Detail}");
            return 1;
        }
        catch (RpcException ex)
        {
            await Console.Error.WriteLineAsync($"error: {ex.StatusCode}: {ex.Status.Detail}");
            return 1;
        }
    });
}
