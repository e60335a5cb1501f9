using Microsoft.Extensions.Logging;

namespace LoraSqueeze.Engine;

/// <summary>Source-generated log messages of the engine and the adapter manager, with stable event ids.</summary>
internal static partial class EngineLog
{
    [LoggerMessage(2, LogLevel.Information, "Loading adapter {AdapterId} from {Source} at rank {Rank}")]
    public static partial void AdapterLoading(ILogger logger, string adapterId, string source, int rank);

    [LoggerMessage(3, LogLevel.Information, "Loaded adapter {AdapterId}: source ranks [{SourceRanks}] -> {TargetRank}, retained energy {RetainedEnergy:F4}, {Bytes} bytes in {Milliseconds:F0} ms (host cached: {Cached})")]
    public static partial void AdapterLoaded(ILogger logger, string adapterId, string sourceRanks, int targetRank,
        double retainedEnergy, long bytes, double milliseconds, bool cached);

    [LoggerMessage(4, LogLevel.Warning, "Adapter {AdapterId} load failed: {Message}")]
    public static partial void AdapterLoadFailed(ILogger logger, string adapterId, string message);

    [LoggerMessage(5, LogLevel.Information, "Adapter {AdapterId} installed in device slot(s) {Slots}")]
    public static partial void AdapterInstalled(ILogger logger, string adapterId, string slots);

    [LoggerMessage(6, LogLevel.Information, "Adapter {AdapterId} evicted from device slot(s) {Slots}")]
    public static partial void AdapterEvictedFromSlot(ILogger logger, string adapterId, string slots);

    [LoggerMessage(16, LogLevel.Warning, "Adapter {AdapterId} keeps {MinEnergy:P1} of its energy in its worst module at rank {Rank} ({Slots} slots, the cap), below the floor of {Floor:P1}; served anyway (Server:BelowEnergyFloor = serve-at-cap)")]
    public static partial void AdapterBelowEnergyFloor(ILogger logger, string adapterId, double minEnergy, int rank, int slots, double floor);

    [LoggerMessage(7, LogLevel.Information, "Adapter {AdapterId} unloaded")]
    public static partial void AdapterUnloaded(ILogger logger, string adapterId);

    [LoggerMessage(8, LogLevel.Error, "Engine step failed; failing {Count} running request(s)")]
    public static partial void StepFailed(ILogger logger, Exception exception, int count);

    // The message only: the exception itself reaches whoever started the host (StartAsync rethrows it), and the CLI
    // prints it as one line; a stack trace in the log would defeat that.
    [LoggerMessage(9, LogLevel.Error, "Engine failed to start: {Message}")]
    public static partial void EngineStartFailed(ILogger logger, string message);

    [LoggerMessage(17, LogLevel.Information, "Warm-up: {Steps} decode steps at batch {Rows} and 1 in {Milliseconds:F0} ms")]
    public static partial void WarmedUp(ILogger logger, int steps, int rows, double milliseconds);

    [LoggerMessage(11, LogLevel.Error, "Installing adapter {AdapterId} failed")]
    public static partial void InstallFailed(ILogger logger, Exception exception, string adapterId);

    [LoggerMessage(12, LogLevel.Critical, "Engine loop failed; the server stops serving generation")]
    public static partial void EngineCrashed(ILogger logger, Exception exception);

    [LoggerMessage(13, LogLevel.Information, "Preloading up to {Count} adapters into the host tier (budget {Budget})")]
    public static partial void PreloadStarting(ILogger logger, int count, string budget);

    [LoggerMessage(14, LogLevel.Information, "Preload: {Done}/{Count} adapters, host tier {Used} of {Budget}")]
    public static partial void PreloadProgress(ILogger logger, int done, int count, string used, string budget);

    [LoggerMessage(15, LogLevel.Information, "Preload finished: {Loaded} loaded, {Failed} failed, {Skipped} left on disk ({Reason}); host tier {Used} in {Seconds:F1} s")]
    public static partial void PreloadFinished(ILogger logger, int loaded, int failed, int skipped, string reason, string used, double seconds);
}
