using LoraSqueeze.Training.Loop;
using LoraSqueeze.Training.Optim;
using static TorchSharp.torch;

namespace LoraSqueeze.Training.Tests;

[Collection("torch")]
public class TrainerTests
{
    private static TrainerOptions Options(int steps, string? ckpt = null, int? stopAfter = null) => new()
    {
        Steps = steps,
        BatchSize = 4,
        Seed = 7,
        LearningRate = new LrSchedule(0.1, 3, steps, 0.01).At,
        CheckpointDir = ckpt,
        CheckpointEvery = ckpt is null ? 0 : 5,
        StopAfter = stopAfter,
    };

    [Fact]
    public void Short_run_lowers_the_loss_on_a_learnable_task()
    {
        var rows = ToyData.CountingRows(16, 32, 12);
        using var target = new BigramTarget(16, 1);
        using var trainer = new Trainer(target, Options(60), rows, rows);
        var before = trainer.Evaluate()!;
        trainer.Run();
        var after = trainer.Evaluate()!;
        Assert.True(after.Loss < before.Loss * 0.3, $"eval loss {before.Loss:F3} → {after.Loss:F3}");
        Assert.InRange(before.Perplexity, 14, 18); // untrained ≈ uniform over 16 tokens
        Assert.True(trainer.Log.Steps[^1].Loss < trainer.Log.Steps[0].Loss);
    }

    [Fact]
    public void Resume_continues_bit_for_bit()
    {
        var rows = ToyData.CountingRows(16, 9, 6); // 9 rows, batch 4: batches straddle epochs
        var dir = Path.Combine(Path.GetTempPath(), "ls-resume-" + Guid.NewGuid().ToString("N"));
        try
        {
            using var straight = new BigramTarget(16, 3);
            using (var t = new Trainer(straight, Options(20), rows)) t.Run();

            using (var first = new BigramTarget(16, 3))
            using (var t = new Trainer(first, Options(20, dir, stopAfter: 9), rows))
            {
                t.Run(); // checkpoint written after step 10
            }
            using var resumed = new BigramTarget(16, 99); // different init: everything must come from the checkpoint
            using var t2 = new Trainer(resumed, Options(20, dir), rows);
            t2.Resume(dir);
            Assert.Equal(10, t2.Step);
            t2.Run();
            Assert.True(TensorAssert.Identical(straight.W, resumed.W), "resumed parameters differ from the uninterrupted run");
            Assert.Equal(20, t2.Log.Steps.Count);
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, true);
        }
    }

    [Fact]
    public void AdamW_matches_the_reference_update()
    {
        using var p = tensor(new[] { 1.0f, -2.0f }).requires_grad_(true);
        using var opt = new AdamW(0.9, 0.999, 1e-8, weightDecay: 0.1);
        opt.Add("p", p);
        var ps = new Dictionary<string, Tensor> { ["p"] = p };
        double[] x = [1.0, -2.0], m = [0, 0], v = [0, 0];
        for (int step = 1; step <= 3; step++)
        {
            using (var loss = p.square().sum()) loss.backward(); // g = 2p
            var g = x.Select(xi => 2 * xi).ToArray();
            opt.Step(ps, 0.01);
            p.grad!.zero_();
            for (int i = 0; i < 2; i++)
            {
                x[i] *= 1 - 0.01 * 0.1;
                m[i] = 0.9 * m[i] + 0.1 * g[i];
                v[i] = 0.999 * v[i] + 0.001 * g[i] * g[i];
                double mh = m[i] / (1 - Math.Pow(0.9, step)), vh = v[i] / (1 - Math.Pow(0.999, step));
                x[i] -= 0.01 * mh / (Math.Sqrt(vh) + 1e-8);
            }
        }
        var got = p.data<float>().ToArray();
        Assert.Equal(x[0], got[0], 5);
        Assert.Equal(x[1], got[1], 5);
    }

    [Fact]
    public void Gradient_clipping_bounds_the_global_norm()
    {
        using var a = tensor(new[] { 3.0f }).requires_grad_(true);
        using var b = tensor(new[] { 4.0f }).requires_grad_(true);
        using (var loss = a.mul(a).sum().div(2) + b.mul(b).sum().div(2)) loss.backward(); // grads 3, 4 → norm 5
        double norm = GradClip.ClipByGlobalNorm([a, b], 1.0);
        Assert.Equal(5.0, norm, 5);
        Assert.Equal(0.6, a.grad!.item<float>(), 4);
        Assert.Equal(0.8, b.grad!.item<float>(), 4);
    }
}
