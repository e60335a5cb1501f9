using System.Text.Json;
using System.Text.Json.Nodes;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Safetensors;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Adapters;

/// <summary>
/// The trainable adapter over a frozen base: one <see cref="TrainableModule"/> per targeted projection, in base-model
/// order, and the PEFT writer for it (adapter_config.json + adapter_model.safetensors, keys
/// <c>base_model.model.&lt;module&gt;.&lt;suffix&gt;</c>; adapter-formats.md §1, §5, §7, §8).
/// </summary>
public sealed class TrainableAdapter : IDisposable
{
    private readonly Dictionary<string, TrainableModule> _byPath;
    private readonly Dictionary<string, Tensor> _baseWeights;
    private const int VeraPrngKey = 0; // PEFT's default projection_prng_key
    private Tensor? _veraA, _veraB;

    /// <param name="projections">Every LoRA-capable projection of the base: HF module path and frozen weight [out, in].</param>
    public TrainableAdapter(AdapterSpec spec, IEnumerable<(string Path, Tensor Weight)> projections, int seed)
    {
        Spec = spec;
        var targets = projections.Where(p => spec.Targets(p.Path)).ToList();
        if (targets.Count == 0)
            throw new ArgumentException($"--target-modules {string.Join(",", spec.TargetModules)} matches no projection of the model");
        _baseWeights = targets.ToDictionary(t => t.Path, t => t.Weight, StringComparer.Ordinal);
        using var gen = new Generator((ulong)seed);
        var modules = new List<TrainableModule>();
        if (spec.Variant == AdapterVariant.Vera)
        {
            long maxIn = targets.Max(t => t.Weight.shape[1]), maxOut = targets.Max(t => t.Weight.shape[0]);
            // Frozen shared projections drawn exactly as PEFT draws them from projection_prng_key (the squeeze engine's
            // bit-exact MT19937 port), so the saved vera_A/vera_B also equal what PEFT would regenerate.
            (_veraA, _veraB) = VeraProjections.Generate(VeraPrngKey, spec.Rank, maxIn, maxOut); // [r, max_in], [max_out, r]
            foreach (var (path, w) in targets)
                modules.Add(new VeraModuleTrainer(path, w.shape[1], w.shape[0], _veraA, _veraB, spec.VeraDInitial));
        }
        else
        {
            double scale = spec.ScaleFor(spec.Rank);
            foreach (var (path, w) in targets)
                modules.Add(new LoraModuleTrainer(path, w.shape[1], w.shape[0], spec.Rank, scale, spec.FreezeA,
                    spec.Variant == AdapterVariant.Dora, w, gen));
        }
        Modules = modules;
        _byPath = modules.ToDictionary(m => m.ModulePath, StringComparer.Ordinal);
    }

    public AdapterSpec Spec { get; private set; }
    public IReadOnlyList<TrainableModule> Modules { get; }

    /// <summary>Current LoRA rank (changes at In-Squeeze stages and after a squeeze).</summary>
    public int Rank => Modules[0] is LoraModuleTrainer l ? l.Rank : Spec.Rank;

    public TrainableModule? Find(string modulePath) => _byPath.GetValueOrDefault(modulePath);

    /// <summary>Trainable tensors under their PEFT names (without the <c>base_model.model.</c> prefix).</summary>
    public IEnumerable<(string Name, Tensor Tensor, ParameterRole Role)> NamedParameters() =>
        Modules.SelectMany(m => m.Parameters().Select(p => ($"{m.ModulePath}.{p.Suffix}", p.Tensor, p.Role)));

    /// <summary>
    /// After a squeeze the spec records the new rank and its alpha: one that keeps s = α/r (or α/√r) unchanged, or,
    /// with <see cref="AdapterSpec.RescaleOnSqueeze"/>, the same α (s follows the rule at the new rank).
    /// </summary>
    internal void SetRank(int rank)
    {
        double alpha = ScaleAfterSqueeze(rank) * (Spec.UseRsLora ? Math.Sqrt(rank) : rank);
        Spec = Spec with { Rank = rank, Alpha = alpha };
    }

    /// <summary>The scale s an adapter squeezed to <paramref name="rank"/> trains with (<see cref="AdapterSpec.RescaleOnSqueeze"/>).</summary>
    private double ScaleAfterSqueeze(int rank) =>
        !Spec.RescaleOnSqueeze ? Spec.ScaleFor(Spec.Rank)
        : Spec.UseRsLora ? (Spec.Alpha ?? rank) / Math.Sqrt(rank) : (Spec.Alpha ?? rank) / rank; // no α given: α = r at every rank

    /// <summary>
    /// Squeezes every LoRA module to <paramref name="rank"/>, keeping ΔW (the new scale is folded into the factors);
    /// returns the mean retained energy.
    /// </summary>
    public double SqueezeTo(int rank)
    {
        if (Spec.Variant != AdapterVariant.Lora)
            throw new InvalidOperationException($"squeezing during training is defined for LoRA-family adapters (LoRA, rsLoRA, LoRA+, LoRA-FA, PeriodicLoRA), not {Spec.Variant}; squeeze the finished adapter with 'lorasqueeze squeeze' instead");
        double scale = ScaleAfterSqueeze(rank);
        double energy = Modules.Cast<LoraModuleTrainer>().Average(m => m.SqueezeTo(rank, scale));
        SetRank(rank);
        return energy;
    }

    /// <summary>PeriodicLoRA: merges every module's current LoRA into its accumulated update and re-initialises it.</summary>
    public void MergeAndReinit(int seed)
    {
        using var gen = new Generator((ulong)seed);
        foreach (var m in Modules.Cast<LoraModuleTrainer>()) m.MergeAndReinit(gen);
    }

    /// <summary>After a checkpoint restore: the spec's rank follows the modules' (it may have been squeezed).</summary>
    internal void SyncRankFromModules()
    {
        if (Modules[0] is LoraModuleTrainer l && l.Rank != Spec.Rank) SetRank(l.Rank);
    }

    /// <summary>Writes the adapter in PEFT's on-disk format.</summary>
    public void Save(string dir, string baseModelPath)
    {
        Directory.CreateDirectory(dir);
        var tensors = new List<KeyValuePair<string, Tensor>>();
        using (var scope = NewDisposeScope())
        {
            foreach (var m in Modules)
            {
                foreach (var (suffix, t) in m.SavedTensors(_baseWeights[m.ModulePath]))
                    tensors.Add(new($"base_model.model.{m.ModulePath}.{suffix}", t.contiguous()));
            }
            if (_veraA is not null)
            {
                tensors.Add(new("base_model.vera_A", _veraA.contiguous()));
                tensors.Add(new("base_model.vera_B", _veraB!.contiguous()));
            }
            SafetensorsWriter.Write(Path.Combine(dir, "adapter_model.safetensors"), tensors);
        }
        File.WriteAllText(Path.Combine(dir, "adapter_config.json"), ConfigJson(baseModelPath).ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n");
    }

    internal JsonObject ConfigJson(string baseModelPath)
    {
        var targets = new JsonArray(Spec.TargetModules.Order(StringComparer.Ordinal).Select(t => (JsonNode)JsonValue.Create(t)!).ToArray());
        if (Spec.Variant == AdapterVariant.Vera)
        {
            return new JsonObject
            {
                ["peft_type"] = "VERA",
                ["task_type"] = "CAUSAL_LM",
                ["base_model_name_or_path"] = baseModelPath,
                ["r"] = Spec.Rank,
                ["target_modules"] = targets,
                ["projection_prng_key"] = VeraPrngKey,
                ["save_projection"] = true,
                ["vera_dropout"] = 0.0,
                ["d_initial"] = Spec.VeraDInitial,
                ["fan_in_fan_out"] = false,
                ["bias"] = "none",
                ["modules_to_save"] = null,
                ["inference_mode"] = true,
            };
        }
        return new JsonObject
        {
            ["peft_type"] = "LORA",
            ["task_type"] = "CAUSAL_LM",
            ["base_model_name_or_path"] = baseModelPath,
            ["r"] = Rank,
            ["lora_alpha"] = Spec.EffectiveAlpha,
            ["use_rslora"] = Spec.UseRsLora,
            ["use_dora"] = Spec.Variant == AdapterVariant.Dora,
            ["target_modules"] = targets,
            ["lora_dropout"] = 0.0,
            ["fan_in_fan_out"] = false,
            ["bias"] = "none",
            ["init_lora_weights"] = true,
            ["modules_to_save"] = null,
            ["rank_pattern"] = new JsonObject(),
            ["alpha_pattern"] = new JsonObject(),
            ["inference_mode"] = true,
        };
    }

    public void Dispose()
    {
        foreach (var m in Modules) m.Dispose();
        _veraA?.Dispose();
        _veraB?.Dispose();
    }
}
