using LoraSqueeze.Engine;
using Microsoft.Extensions.Hosting;

namespace LoraSqueeze.Server.Hosting;

/// <summary>Starts the engine thread and waits for the model to load before the server starts listening.</summary>
internal sealed class EngineHostedService(InferenceEngine engine) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        engine.Start();
        await engine.Ready.WaitAsync(cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        engine.Dispose();
        return Task.CompletedTask;
    }
}
