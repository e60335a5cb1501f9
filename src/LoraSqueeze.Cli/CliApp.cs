using System.CommandLine;
using LoraSqueeze.Cli.Commands;

namespace LoraSqueeze.Cli;

/// <summary>Builds the command tree. Each verb lives in Commands/ and registers itself here.</summary>
public static class CliApp
{
    public static RootCommand Build()
    {
        var root = new RootCommand(
            "LoraSqueeze: a multi-adapter LLM server that squeezes every LoRA adapter to one uniform rank.");
        VersionCommand.Attach(root);
        ClientCommand.Attach(root);
        ServeCommand.Attach(root);
        PlanCommand.Attach(root);
        SqueezeCommand.Attach(root);
        InspectCommand.Attach(root);
        ExportCommand.Attach(root);
        EvalCommand.Attach(root);
        EvalWeightsCommand.Attach(root);
        ExtractCommand.Attach(root);
        BenchCommand.Attach(root);
        TokenizeCommand.Attach(root);
        GenerateCommand.Attach(root);
        CorpusCommand.Attach(root);
        TrainCommand.Attach(root);
        PretrainCommand.Attach(root);
        ExperimentCommand.Attach(root);
        DemoCommand.Attach(root);
        return root;
    }
}
