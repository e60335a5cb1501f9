using LoraSqueeze.Engine;
using Microsoft.Extensions.Hosting;

namespace LoraSqueeze.Server.Hosting;

/// <summary>Starts the engine thread and waits for the model to load before the server starts listening; drains it on stop.</summary>
internal sealed class EngineHostedService(InferenceEngine engine) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        engine.Start();
        await engine.Ready.WaitAsync(cancellationToken);
    }

    /// <summary>
    /// Graceful, within the host's shutdown timeout (<see cref="ServerOptions.ShutdownDrainSeconds"/>): Kestrel stops
    /// first (it stops listening and waits for the requests it is serving, whose generations keep running here); then
    /// this drain refuses anything new and waits for what is still queued or running; then the engine stops and fails
    /// whatever is left.
    /// </summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        engine.BeginDrain();
        try
        {
            await engine.WaitIdleAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The drain time is up: what still runs fails with "shutting down".
        }
        engine.Dispose();
    }
}
