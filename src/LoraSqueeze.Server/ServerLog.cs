using Microsoft.Extensions.Logging;

namespace LoraSqueeze.Server;

/// <summary>Source-generated log messages of the server's hosting layer, with stable event ids (the engine's are in EngineLog).</summary>
internal static partial class ServerLog
{
    [LoggerMessage(1, LogLevel.Information, "LoraSqueeze serving {Model} on {Device} as model '{ServedName}': gRPC {GrpcAddress}, OpenAI API {OpenAiAddress}, metrics {MetricsAddress}/metrics, target rank {TargetRank}, {Slots} slots, host cache {HostCache}, adapter roots [{Roots}], layout {Layout}, slot dtype {SlotDType}, weight dtype {WeightDType}, kernel {Kernel}, admin token {AdminToken}")]
    public static partial void Ready(ILogger logger, string model, string device, string servedName, string grpcAddress, string openAiAddress, string metricsAddress,
        int targetRank, int slots, string hostCache, string roots, string layout, string slotDType, string weightDType, string kernel, string adminToken);
}
