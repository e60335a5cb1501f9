using System.CommandLine;
using System.Text.Encodings.Web;
using System.Text.Json;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Engine.Execution;
using LoraSqueeze.Engine.Requests;
using LoraSqueeze.Engine.Scheduling;
using LoraSqueeze.Engine.Text;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Sampling;
using LoraSqueeze.Model.Tokenization;

namespace LoraSqueeze.Cli.Commands;

/// <summary>
/// <c>lorasqueeze generate --model DIR [--adapter DIR] --prompt TEXT [...] [--json]</c>: one generation, offline.
/// The adapter is squeezed on load to <c>--rank</c> and installed into slot 0 of the same multi-adapter layer the
/// server uses, so this is the server's maths without the server.
/// </summary>
public static class GenerateCommand
{
    private static readonly JsonSerializerOptions Readable = new(CliJson.Options) { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void Attach(RootCommand root)
    {
        var model = new Option<string>("--model") { Description = "Hugging Face model directory.", Required = true };
        var adapter = new Option<string?>("--adapter") { Description = "PEFT adapter directory (squeezed on load)." };
        var prompt = new Option<string>("--prompt") { Description = "Prompt text.", Required = true };
        var maxTokens = new Option<int>("--max-tokens") { Description = "Tokens to generate at most.", DefaultValueFactory = _ => 64 };
        var temperature = new Option<float>("--temperature") { Description = "0 = greedy.", DefaultValueFactory = _ => 0f };
        var topP = new Option<float>("--top-p") { DefaultValueFactory = _ => 1f };
        var topK = new Option<int>("--top-k") { DefaultValueFactory = _ => 0 };
        var repetition = new Option<float>("--repetition-penalty") { DefaultValueFactory = _ => 1f };
        var seed = new Option<long?>("--seed") { Description = "Same seed, same output." };
        var stop = new Option<string[]>("--stop") { Description = "Stop sequence (repeatable).", AllowMultipleArgumentsPerToken = false };
        var rank = new Option<int>("--rank") { Description = "Uniform rank the adapter is squeezed to.", DefaultValueFactory = _ => 16 };
        var baseDir = new Option<string?>("--base") { Description = "Base model for adapters that need it (DoRA, VeRA); defaults to --model." };
        var device = new Option<string>("--device") { Description = "cpu, cuda or cuda:N.", DefaultValueFactory = _ => "cpu" };
        var json = new Option<bool>("--json") { Description = "Print text, token ids, per-token logprobs and finish reason as JSON." };
        var command = new Command("generate", "Generate text with the base model or a (squeezed) adapter.")
        {
            model, adapter, prompt, maxTokens, temperature, topP, topK, repetition, seed, stop, rank, baseDir, device, json,
        };
        command.SetAction(parse => CliErrors.Run(() =>
        {
            var sampling = new SamplingParams(
                Temperature: parse.GetValue(temperature), TopP: parse.GetValue(topP), TopK: parse.GetValue(topK),
                RepetitionPenalty: parse.GetValue(repetition), Seed: parse.GetValue(seed), MaxTokens: parse.GetValue(maxTokens),
                Logprobs: true);
            var result = Run(parse.GetValue(model)!, parse.GetValue(adapter), parse.GetValue(prompt)!, sampling,
                parse.GetValue(stop) ?? [], parse.GetValue(rank), parse.GetValue(baseDir), parse.GetValue(device)!);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(result, Readable));
            }
            else
            {
                Console.WriteLine(result.Text);
                Console.Error.WriteLine($"[{result.CompletionTokens} tokens, finish: {result.FinishReason}]");
            }
            return 0;
        }));
        root.Subcommands.Add(command);
    }

    public sealed record GenerateResult(
        string Text, int[] TokenIds, float[] Logprobs, string FinishReason, int PromptTokens, int CompletionTokens,
        AdapterInfo? Adapter);

    public sealed record AdapterInfo(string Path, string SourceKind, int TargetRank, double MeanRetainedEnergy, double SqueezeSeconds);

    public static GenerateResult Run(string modelDir, string? adapterDir, string prompt, SamplingParams sampling,
        IReadOnlyList<string> stops, int rank, string? baseDir, string deviceSpec)
    {
        TorchRuntime.EnsureInitialized();
        var tokenizer = TokenizerLoader.FromDirectory(modelDir);
        var device = TorchRuntime.ResolveDevice(deviceSpec);
        using var model = CausalLM.Load(modelDir, device, new ModelLoadOptions { AdapterRank = rank, AdapterSlots = 1 });

        AdapterInfo? info = null;
        int slot = -1;
        if (adapterDir is not null)
        {
            var (weights, report) = AdapterSqueezer.LoadAndSqueeze(adapterDir, rank, new SqueezeOptions(), baseDir ?? modelDir);
            using (weights)
            {
                model.Adapters.Install(0, weights);
            }
            slot = 0;
            info = new AdapterInfo(adapterDir, report.SourceKind.ToString(), report.TargetRank, report.MeanRetainedEnergy, report.Seconds);
        }

        var promptIds = tokenizer.Encode(prompt);
        var request = new GenerationRequest(1, promptIds, slot < 0 ? null : InstalledAdapters.SlotId(slot), sampling with { StopTokenSequences = null });
        var eos = tokenizer.EosTokenIds.Count > 0 ? tokenizer.EosTokenIds : null;
        using var generator = EngineCore.ForModel(model, new SchedulerOptions
        {
            MaxBatch = 1,
            MaxTokensPerStep = 512,
            MaxSequenceLength = Math.Min(model.Config.MaxPositionEmbeddings, promptIds.Length + sampling.MaxTokens),
            EosTokenIds = eos,
        });
        generator.Add(request);

        // Stop strings are matched on the decoded text by the engine's one text streamer, as the server does: a stop
        // string need not tokenize the same way inside the output as on its own. The text is cut before it.
        var streamer = new TextStreamer(new IncrementalDecoder(tokenizer, promptIds), stops.Where(s => s.Length > 0).ToList());
        var ids = new List<int>();
        var logprobs = new List<float>();
        var finish = FinishReason.None;
        while (finish == FinishReason.None)
        {
            foreach (var e in generator.Step().Events)
            {
                if (e.TokenId >= 0)
                {
                    ids.Add(e.TokenId);
                    logprobs.Add(e.Logprob);
                    // The EOS token stays in the ids (as HF returns it) but is not part of the text.
                    if (e.Finish != FinishReason.Eos) streamer.Push(e.TokenId);
                }
                if (e.Finish != FinishReason.None) finish = e.Finish;
            }
            if (streamer.Stopped)
            {
                finish = FinishReason.Stop;
                generator.Cancel(request.Id);
            }
        }
        streamer.Flush();
        var text = streamer.Text;
        return new GenerateResult(text, [.. ids], [.. logprobs], finish.ToString().ToLowerInvariant(), promptIds.Length, ids.Count, info);
    }
}
