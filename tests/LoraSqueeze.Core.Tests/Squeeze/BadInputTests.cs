using System.Text.Json.Nodes;
using LoraSqueeze.Core.Adapters;
using LoraSqueeze.Core.Squeeze;
using LoraSqueeze.Testing;
using TorchSharp;
using static LoraSqueeze.Testing.AdapterFixture;

namespace LoraSqueeze.Core.Tests.Squeeze;

/// <summary>Bad input gives a clear error naming the file, module or tensor.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly AdapterFixture _fx = new();

    private string Lora(string name, JsonObject? extra = null, torch.Tensor? a = null, string module = "m.q_proj")
    {
        var cfg = new JsonObject { ["peft_type"] = "LORA", ["r"] = 2, ["lora_alpha"] = 2, ["target_modules"] = new JsonArray("q_proj") };
        foreach (var (k, v) in extra ?? []) cfg[k] = v?.DeepClone();
        return _fx.WriteAdapter(name, cfg, [Key(Peft(module, "lora_A.weight"), a ?? _fx.Randn(2, 8)), Key(Peft(module, "lora_B.weight"), _fx.Randn(6, 2))]);
    }

    [Fact]
    public void RankZeroIsRefusedNamingTheModule()
    {
        var cfg = new JsonObject { ["peft_type"] = "LORA", ["r"] = 0, ["lora_alpha"] = 2, ["target_modules"] = new JsonArray("q_proj") };
        var dir = _fx.WriteAdapter("rank0", cfg,
            [Key(Peft("m.q_proj", "lora_A.weight"), torch.zeros([0, 8])), Key(Peft("m.q_proj", "lora_B.weight"), torch.zeros([6, 0]))]);
        var ex = Assert.ThrowsAny<Exception>(() => AdapterReader.Read(dir));
        Assert.IsType<AdapterFormatException>(ex);
        Assert.Contains("m.q_proj", ex.Message);
        Assert.Contains("rank 0", ex.Message);
    }

    [Fact]
    public async Task AFifoOrDeviceIsRefusedWithoutOpeningIt()
    {
        if (!OperatingSystem.IsLinux()) return;   // mkfifo and statx are Linux's
        var dir = Lora("fifo");
        var config = Path.Combine(dir, "adapter_config.json");
        File.Delete(config);
        var (code, _, err) = ChildProcess.Run("mkfifo", [config], TimeSpan.FromSeconds(10));
        Assert.True(code == 0, err);
        // Opening a FIFO for reading would block until a writer comes; the reader must refuse it first.
        var read = Task.Run(() => Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(dir)));
        var refused = await read.WaitAsync(TimeSpan.FromSeconds(10));   // TimeoutException: the reader blocked on the FIFO
        Assert.Contains("not a regular file", refused.Message);
        Assert.Contains("adapter_config.json", refused.Message);

        var weights = Path.Combine(Lora("device"), "adapter_model.safetensors");
        File.Delete(weights);
        File.CreateSymbolicLink(weights, "/dev/zero");
        var device = Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(Path.GetDirectoryName(weights)!));
        Assert.Contains("not a regular file", device.Message);
    }

    [Fact]
    public void AFileClaimingMoreThanAnyAdapterOfTheBaseIsRefusedBeforeReading()
    {
        var model = _fx.WriteModel("capbase", [Key("m.q_proj.weight", _fx.Randn(6, 8))]);   // 48 elements: at most 768 bytes
        var cfg = new JsonObject { ["peft_type"] = "LORA", ["r"] = 2, ["lora_alpha"] = 2, ["target_modules"] = new JsonArray("q_proj") };
        var tensors = Enumerable.Range(0, 20).Select(i => Key(Peft("m.q_proj", $"extra_{i}.weight"), _fx.Randn(6, 8)))   // each fits; together 3840 bytes
            .Append(Key(Peft("m.q_proj", "lora_A.weight"), _fx.Randn(2, 8))).Append(Key(Peft("m.q_proj", "lora_B.weight"), _fx.Randn(6, 2)));
        var dir = _fx.WriteAdapter("too-many-bytes", cfg, tensors);
        var ex = Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(dir, model));
        Assert.Contains("more than any adapter of this base model can hold", ex.Message);
    }

    [Fact]
    public void IntegerFactorsAreRefusedNamingTheTensor()
    {
        var dir = Lora("int32", a: torch.ones([2, 8], dtype: torch.ScalarType.Int32));
        var ex = Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(dir));
        Assert.Contains("m.q_proj", ex.Message);
        Assert.Contains("lora_A", ex.Message);
        Assert.Contains("I32", ex.Message);
    }

    [Fact]
    public void MissingFilesAreNamed()
    {
        var ex = Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(Path.Combine(_fx.Root, "nope")));
        Assert.Contains("nope", ex.Message);
        var dir = Lora("nofile");
        File.Delete(Path.Combine(dir, "adapter_model.safetensors"));
        Assert.Contains("adapter_model.safetensors", Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(dir)).Message);
        var dir2 = Lora("noconfig");
        File.Delete(Path.Combine(dir2, "adapter_config.json"));
        Assert.Contains("adapter_config.json", Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(dir2)).Message);
        File.WriteAllText(Path.Combine(dir2, "adapter_config.json"), "{ not json");
        Assert.Contains("invalid JSON", Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(dir2)).Message);
    }

    [Fact]
    public void ConfigDisagreeingWithTensorsNamesTheModule()
    {
        var dir = Lora("rank", new JsonObject { ["r"] = 4 });
        var ex = Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(dir));
        Assert.Contains("m.q_proj", ex.Message);
        Assert.Contains("rank 4", ex.Message);
        var dora = Lora("dora", new JsonObject { ["use_dora"] = true });
        Assert.Contains("--base", Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(dora)).Message);
    }

    [Fact]
    public void UnknownModuleAndUnknownTensorAreNamed()
    {
        var dir = Lora("unknown", module: "m.gate_proj");
        var ex = Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(dir));
        Assert.Contains("m.gate_proj", ex.Message);
        Assert.Contains("target_modules", ex.Message);
        var model = _fx.WriteModel("base", [Key("other.q_proj", _fx.Randn(6, 8))]);
        var ok = Lora("ok");
        Assert.Contains("not in the base model", Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(ok, model)).Message);
    }

    [Fact]
    public void NanAndInfAreNamed()
    {
        var a = _fx.Randn(2, 8);
        a[0, 3] = torch.tensor(float.NaN);
        var ex = Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(Lora("nan", a: a)));
        Assert.Contains("m.q_proj.lora_A.weight", ex.Message);
        Assert.Contains("1 NaN", ex.Message);
    }

    [Fact]
    public void ShapesThatDoNotFitTheBaseAreNamed()
    {
        var model = _fx.WriteModel("base2", [Key("m.q_proj", _fx.Randn(6, 9))]);
        var ex = Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(Lora("fit"), model));
        Assert.Contains("m.q_proj", ex.Message);
        Assert.Contains("[6, 9]", ex.Message);
    }

    /// <summary>
    /// Every adapter kind: a header whose shapes cannot fit the base module is refused from the header alone, naming
    /// the module and tensor (the message says it was not read). Base: m.q_proj [6, 9] ([out, in]).
    /// </summary>
    [Theory]
    [InlineData("LORA", "lora_A.weight")]
    [InlineData("ADALORA", "lora_B")]
    [InlineData("LOHA", "hada_w1_b")]
    [InlineData("LOKR", "LoKr factors")]
    [InlineData("VERA", "vera_lambda_b")]
    public void Every_kind_checks_module_shapes_from_the_header_before_reading(string peftType, string named)
    {
        var model = _fx.WriteModel("base-shapes-" + peftType, [Key("m.q_proj", _fx.Randn(6, 9))]);
        var cfg = new JsonObject { ["peft_type"] = peftType, ["r"] = 2, ["lora_alpha"] = 2, ["alpha"] = 2, ["target_modules"] = new JsonArray("q_proj") };
        string M(string suffix) => Peft("m.q_proj", suffix);
        KeyValuePair<string, torch.Tensor>[] tensors = peftType switch
        {
            "LORA" => [Key(M("lora_A.weight"), _fx.Randn(2, 8)), Key(M("lora_B.weight"), _fx.Randn(6, 2))],                 // in 8, base 9
            "ADALORA" => [Key(M("lora_A"), _fx.Randn(2, 9)), Key(M("lora_B"), _fx.Randn(5, 2)), Key(M("lora_E"), _fx.Randn(2, 1))],  // out 5, base 6
            "LOHA" => [Key(M("hada_w1_a"), _fx.Randn(6, 2)), Key(M("hada_w1_b"), _fx.Randn(2, 8)), Key(M("hada_w2_a"), _fx.Randn(6, 2)), Key(M("hada_w2_b"), _fx.Randn(2, 9))],
            "LOKR" => [Key(M("lokr_w1"), _fx.Randn(2, 3)), Key(M("lokr_w2_a"), _fx.Randn(3, 2)), Key(M("lokr_w2_b"), _fx.Randn(2, 4))],   // kron → [6, 12]
            _ => [Key("base_model.vera_A", _fx.Randn(2, 9)), Key("base_model.vera_B", _fx.Randn(6, 2)), Key(M("vera_lambda_b"), _fx.Randn(5)), Key(M("vera_lambda_d"), _fx.Randn(2))],
        };
        if (peftType == "ADALORA")
        {
            cfg["init_r"] = 2;
            cfg["target_r"] = 2;
        }
        if (peftType == "VERA") cfg["save_projection"] = true;
        var dir = _fx.WriteAdapter("shapes-" + peftType, cfg, tensors);
        var ex = Assert.Throws<AdapterFormatException>(() => AdapterReader.Read(dir, model));
        Assert.Contains("m.q_proj", ex.Message);
        Assert.Contains(named, ex.Message);
        Assert.Contains("refused before reading", ex.Message);
    }

    [Fact]
    public void TargetRankOutOfRangeIsRefused()
    {
        var dir = Lora("rk");
        Assert.Throws<ArgumentOutOfRangeException>(() => AdapterSqueezer.LoadAndSqueeze(dir, 0));
        var ex = Assert.Throws<AdapterFormatException>(() => AdapterSqueezer.LoadAndSqueeze(dir, 7));
        Assert.Contains("m.q_proj", ex.Message);
        Assert.Contains("exceeds", ex.Message);
    }

    [Fact]
    public void FeaturesWithoutOneDeltaPerModuleAreRefusedByName()
    {
        var mts = Assert.Throws<UnsupportedAdapterException>(() => AdapterReader.Read(Lora("mts", new JsonObject { ["modules_to_save"] = new JsonArray("lm_head") })));
        Assert.Equal("modules_to_save", mts.Feature);
        var pissa = Assert.Throws<UnsupportedAdapterException>(() => AdapterReader.Read(Lora("pissa", new JsonObject { ["init_lora_weights"] = "pissa_niter_4" })));
        Assert.Contains("PiSSA", pissa.Message);
        var moe = _fx.WriteAdapter("moe", new JsonObject { ["peft_type"] = "LORA", ["r"] = 2, ["lora_alpha"] = 2 },
            [Key(Peft("m.up_proj", "lora_route.weight"), _fx.Randn(4, 8)), Key(Peft("m.up_proj", "lora_A0.weight"), _fx.Randn(2, 8))]);
        Assert.Equal("MoE-LoRA", Assert.Throws<UnsupportedAdapterException>(() => AdapterReader.Read(moe)).Feature);
    }

    public void Dispose() => _fx.Dispose();
}
