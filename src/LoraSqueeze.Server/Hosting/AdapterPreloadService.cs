using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Engine.Metrics;
using Microsoft.Extensions.Hosting;

namespace LoraSqueeze.Server.Hosting;

/// <summary>
/// Runs <see cref="AdapterManager.PreloadAsync"/> in the background once the engine is up (registered after
/// <see cref="EngineHostedService"/>, whose start waits for the model), when <see cref="ServerOptions.PreloadAdapters"/>
/// is on. The server serves meanwhile; the preload only ever yields to it.
/// </summary>
internal sealed class AdapterPreloadService(AdapterManager store, ServerOptions options, EngineMetrics metrics) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.PreloadAdapters)
        {
            metrics.PreloadFinished.Set(1);
            return;
        }
        await Task.Yield(); // listing the roots is synchronous; never hold up the host's start
        try
        {
            await store.PreloadAsync(stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down mid-preload: nothing to undo, every adapter loaded so far is a normal host-tier entry.
        }
    }
}
