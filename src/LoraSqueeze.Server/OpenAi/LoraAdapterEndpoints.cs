using LoraSqueeze.Engine.Adapters;
using LoraSqueeze.Server.Serving;
using Microsoft.AspNetCore.Http;

namespace LoraSqueeze.Server.OpenAi;

/// <summary>
/// vLLM's (and AIBrix's) runtime adapter calls: <c>POST /v1/load_lora_adapter {"lora_name", "lora_path"}</c> and
/// <c>POST /v1/unload_lora_adapter {"lora_name"}</c>, 200 with a plain-text confirmation as vLLM answers. The same
/// admin token (<c>Authorization: Bearer</c>) and the same confinement to the adapter roots as gRPC's Adapters service.
/// </summary>
internal sealed class LoraAdapterEndpoints(AdapterManager adapters, AdminAuthorization admin)
{
    public async Task LoadAsync(HttpContext http, OpenAiRequestBody body, CancellationToken cancellationToken)
    {
        Authorize(http);
        string name = AdapterName(body);
        string path = body.RequiredString("lora_path");
        var (_, already) = await adapters.LoadAsync(name, path, null, cancellationToken);
        await Text(http, already ? $"Success: LoRA adapter '{name}' was already loaded." : $"Success: LoRA adapter '{name}' added successfully.");
    }

    public async Task UnloadAsync(HttpContext http, OpenAiRequestBody body, CancellationToken cancellationToken)
    {
        Authorize(http);
        string name = AdapterName(body);
        bool unloaded = await adapters.UnloadAsync(name, cancellationToken);
        if (!unloaded && adapters.Get(name) is null)
            throw new AdapterNotFoundException(name);
        await Text(http, unloaded ? $"Success: LoRA adapter '{name}' removed successfully." : $"Success: LoRA adapter '{name}' was not loaded.");
    }

    private void Authorize(HttpContext http)
    {
        if (admin.Problem(http.Request.Headers.Authorization.FirstOrDefault()) is { } denied) throw new UnauthorizedException(denied);
    }

    private static string AdapterName(OpenAiRequestBody body)
    {
        string name = body.RequiredString("lora_name");
        if (!AdapterPathResolver.IsValidId(name))
            throw new InvalidRequestException("lora_name", $"'lora_name' {AdapterPathResolver.Quote(name)} must be 1 to 128 letters, digits, '-', '_' or '.'");
        return name;
    }

    private static Task Text(HttpContext http, string text)
    {
        http.Response.StatusCode = StatusCodes.Status200OK;
        http.Response.ContentType = "text/plain; charset=utf-8";
        return http.Response.WriteAsync(text);
    }
}
