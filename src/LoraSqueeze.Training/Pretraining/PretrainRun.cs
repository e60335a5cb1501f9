using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using LoraSqueeze.Core.Safetensors;
using LoraSqueeze.Core.Torch;
using LoraSqueeze.Model;
using LoraSqueeze.Model.Config;
using LoraSqueeze.Model.Tokenization;
using LoraSqueeze.Training.Loop;
using LoraSqueeze.Training.Optim;
using LoraSqueeze.Training.Runs;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Pretraining;

/// <summary>
/// Pre-trains a base model: trains the tokenizer (unless the output folder already has one), builds a
/// <c>LlamaForCausalLM</c> config, initialises it (<see cref="FullModelTarget.Initialize"/>), trains every weight with
/// AdamW (β2 = 0.95 and weight decay 0.1, nanoGPT's settings), and writes a Hugging Face folder: config.json,
/// model.safetensors, generation_config.json, tokenizer.json, tokenizer_config.json.
/// </summary>
public static class PretrainRun
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static (TrainingLog Log, EvalRecord? Final) Run(PretrainOptions o, Action<Trainer>? configure = null, Action<string>? log = null, Action<Trainer>? drive = null)
    {
        TorchRuntime.EnsureInitialized();
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(o.OutDir);
        if (!File.Exists(Path.Combine(o.OutDir, "tokenizer.json")))
        {
            var files = o.EvalPath is null ? [o.DataPath] : new[] { o.DataPath, o.EvalPath };
            var bpe = TokenizerBuilder.Build([o.DataPath], o.VocabSize, o.OutDir);
            log?.Invoke($"trained a {bpe.Vocab.Count}-token byte-level BPE tokenizer on {string.Join(", ", files.Take(1))}");
        }
        var tokenizer = TokenizerLoader.FromDirectory(o.OutDir);
        var encoder = ModelData.Encoder(tokenizer);
        var config = Config(o, tokenizer);
        config.Validate();
        manual_seed(o.Seed);
        var trainRows = ModelData.Rows(o.DataPath, encoder, o.SeqLen);
        var evalRows = o.EvalPath is null ? null : ModelData.Rows(o.EvalPath, encoder, o.SeqLen, o.MaxEvalRows);
        log?.Invoke($"{trainRows.Count} training rows of {o.SeqLen + 1} tokens; model {config.HiddenSize}×{config.NumHiddenLayers}, vocab {config.VocabSize}");

        using var model = CausalLM.Create(config, CPU, new ModelLoadOptions { AdapterSlots = 0, ForTraining = true });
        FullModelTarget.Initialize(model, o.Seed);
        var target = new FullModelTarget(model);
        long parameters = target.Parameters.Sum(p => p.Tensor.numel());
        log?.Invoke($"{parameters:N0} parameters");
        var schedule = new LrSchedule(o.Lr, Math.Max(1, o.Steps / 20), o.Steps, o.Lr * 0.1);
        var options = new TrainerOptions
        {
            Steps = o.Steps,
            BatchSize = o.BatchSize,
            SeqLen = o.SeqLen,
            Seed = o.Seed,
            Beta2 = 0.95,
            WeightDecay = o.WeightDecay,
            LearningRate = schedule.At,
            EvalEvery = o.EvalEvery,
            CheckpointEvery = o.CheckpointEvery,
            CheckpointDir = o.CheckpointEvery > 0 ? o.CheckpointDir : null,
        };
        using var trainer = new Trainer(target, options, trainRows, evalRows);
        configure?.Invoke(trainer);
        if (o.Resume) trainer.Resume(o.CheckpointDir);
        if (drive is null) trainer.Run();
        else drive(trainer);
        var final = trainer.Evaluate();
        trainer.Log.Seconds = clock.Elapsed.TotalSeconds;
        Save(model, config, tokenizer, o.OutDir);
        File.WriteAllText(Path.Combine(o.OutDir, "training_log.json"),
            JsonSerializer.Serialize(new { Options = o, Parameters = parameters, FinalEval = final, trainer.Log }, Indented));
        return (trainer.Log, final);
    }

    private static ModelConfig Config(PretrainOptions o, HuggingFaceTokenizer tokenizer) => new()
    {
        ModelType = "llama",
        Architectures = ["LlamaForCausalLM"],
        VocabSize = tokenizer.VocabSize,
        HiddenSize = o.HiddenSize,
        IntermediateSize = o.IntermediateSize,
        NumHiddenLayers = o.Layers,
        NumAttentionHeads = o.Heads,
        NumKeyValueHeads = o.KvHeads,
        MaxPositionEmbeddings = o.MaxPositions,
        RmsNormEps = 1e-5,
        RopeTheta = 10000.0,
        TieWordEmbeddingsRaw = o.TieEmbeddings,
        TorchDtype = "float32",
        BosTokenId = tokenizer.BosTokenId,
        EosTokenIdRaw = JsonSerializer.SerializeToElement(tokenizer.EosTokenIds[0]),
    };

    /// <summary>Writes the HF model folder (the tokenizer files are already there).</summary>
    public static void Save(CausalLM model, ModelConfig config, ITokenizer tokenizer, string dir)
    {
        File.WriteAllText(Path.Combine(dir, "config.json"), config.ToJson());
        using (var scope = NewDisposeScope())
        {
            var tensors = model.NamedParameters().Select(p => KeyValuePair.Create(p.Name, p.Tensor.detach().contiguous())).ToList();
            SafetensorsWriter.Write(Path.Combine(dir, "model.safetensors"), tensors);
        }
        var generation = new JsonObject
        {
            ["_from_model_config"] = true,
            ["bos_token_id"] = tokenizer.BosTokenId,
            ["eos_token_id"] = tokenizer.EosTokenIds[0],
            ["do_sample"] = true,
            ["temperature"] = 0.8,
            ["top_p"] = 0.95,
            ["max_new_tokens"] = 64,
        };
        File.WriteAllText(Path.Combine(dir, "generation_config.json"), generation.ToJsonString(Indented) + "\n");
    }
}
