using LoraSqueeze.Training.Loop;
using Spectre.Console;

namespace LoraSqueeze.Cli;

/// <summary>
/// Shows a run's progress: a Spectre progress bar with step, loss, tokens/s and ETA on an interactive terminal, or one
/// plain line every <c>every</c> steps when the output is redirected (a log file from <c>nohup</c>), where a redrawn bar
/// would be unreadable. Eval results and events are printed as lines in both cases.
/// </summary>
public static class TrainingProgress
{
    public static void Run(Trainer trainer, string title, int every = 10)
    {
        int total = trainer.Options.Steps;
        trainer.OnEval = e => AnsiConsole.MarkupLine($"[grey]step {e.Step}: eval loss {e.Loss:F4}, perplexity {e.Perplexity:F2}[/]");
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            trainer.OnStep = (r, eta) =>
            {
                if (r.Step % every == 0 || r.Step == total - 1)
                    AnsiConsole.Console.WriteLine($"{title} step {r.Step + 1}/{total} loss {r.Loss:F4} lr {r.Lr:G3} |g| {r.GradNorm:F2} rank {r.Rank} {r.TokensPerSecond:F0} tok/s eta {TimeSpan.FromSeconds(eta):hh\\:mm\\:ss}");
            };
            trainer.Run();
            return;
        }
        AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(ctx =>
            {
                var task = ctx.AddTask(Markup.Escape(title), maxValue: total);
                task.Value = trainer.Step;
                trainer.OnStep = (r, _) =>
                {
                    task.Description = Markup.Escape($"{title} {r.Step + 1}/{total} loss {r.Loss:F3} r={r.Rank} {r.TokensPerSecond:F0} tok/s");
                    task.Value = r.Step + 1;
                };
                trainer.Run();
            });
    }
}
