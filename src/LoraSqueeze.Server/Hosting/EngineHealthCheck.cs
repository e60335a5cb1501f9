using LoraSqueeze.Engine;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace LoraSqueeze.Server.Hosting;

/// <summary>Serving once the model is loaded on the engine thread and warmed up (grpc.health.v1 reports it).</summary>
internal sealed class EngineHealthCheck(InferenceEngine engine) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(engine.Ready.IsCompletedSuccessfully
            ? HealthCheckResult.Healthy("model loaded")
            : HealthCheckResult.Unhealthy(engine.Ready.IsFaulted ? "model failed to load" : engine.WarmingUp ? "warming up" : "model loading"));
}
