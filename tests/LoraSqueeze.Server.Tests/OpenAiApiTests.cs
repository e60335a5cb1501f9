#pragma warning disable OPENAI001 // Seed is marked experimental in the OpenAI library; the server supports it.
using System.ClientModel;
using System.Net;
using System.Text;
using System.Text.Json;
using LoraSqueeze.Testing;
using OpenAI;
using OpenAI.Chat;

namespace LoraSqueeze.Server.Tests;

/// <summary>One real server on loopback for the OpenAI API tests that need no slowed model.</summary>
public sealed class OpenAiServerFixture : IAsyncLifetime
{
    public TestServer Server { get; private set; } = null!;

    public OpenAIClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Server = await TestServer.StartAsync(o => o.AdminToken = "s3cret");
        Client = new OpenAIClient(new ApiKeyCredential("any key: the server does not check it"),
            new OpenAIClientOptions { Endpoint = Server.OpenAiBaseUri, NetworkTimeout = TimeSpan.FromSeconds(60) });
    }

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

/// <summary>
/// The OpenAI-compatible HTTP API against a real server on loopback, with the official OpenAI .NET library where it
/// can express the call (models, chat, errors) and plain HTTP where it cannot (legacy completions, vLLM's extensions).
/// </summary>
public sealed class OpenAiApiTests(OpenAiServerFixture fixture) : IClassFixture<OpenAiServerFixture>
{
    private TestServer Server => fixture.Server;
    private static string Adapter => DemoFixture.Assets.AdapterIds[0];
    private static string OtherAdapter => DemoFixture.Assets.AdapterIds[1];

    [Fact]
    public async Task Models_lists_the_base_and_every_adapter_with_the_base_as_parent()
    {
        var models = await fixture.Client.GetOpenAIModelClient().GetModelsAsync();
        var ids = models.Value.Select(m => m.Id).ToList();
        Assert.Equal(Server.ServedModel, ids[0]);
        foreach (var id in DemoFixture.Assets.AdapterIds) Assert.Contains(id, ids);

        using var response = await OpenAiHttp.Client.GetAsync(new Uri(Server.OpenAiBaseUri + "/models"));
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("list", doc.RootElement.GetProperty("object").GetString());
        foreach (var m in doc.RootElement.GetProperty("data").EnumerateArray().Skip(1))
        {
            Assert.Equal(Server.ServedModel, m.GetProperty("parent").GetString());
            Assert.Equal("model", m.GetProperty("object").GetString());
        }
    }

    [Fact]
    public async Task A_streamed_completion_equals_the_unary_one_and_ends_with_a_usage_chunk()
    {
        var body = new { model = Adapter, prompt = "Once upon a time", max_tokens = 16, temperature = 0 };
        var (status, unary) = await OpenAiHttp.PostAsync(Server, "/completions", body);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(Adapter, unary.GetProperty("model").GetString());
        Assert.Equal("text_completion", unary.GetProperty("object").GetString());
        var choice = unary.GetProperty("choices")[0];
        string text = choice.GetProperty("text").GetString()!;
        Assert.NotEmpty(text);
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        var usage = unary.GetProperty("usage");
        Assert.Equal(16, usage.GetProperty("completion_tokens").GetInt32());
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32() + 16, usage.GetProperty("total_tokens").GetInt32());

        var (events, done) = await OpenAiHttp.StreamAsync(Server, "/completions",
            new { model = Adapter, prompt = "Once upon a time", max_tokens = 16, temperature = 0, stream = true, stream_options = new { include_usage = true } });
        Assert.True(done);
        Assert.All(events, e => Assert.Equal(Adapter, e.GetProperty("model").GetString()));
        var last = events[^1];
        Assert.Equal(0, last.GetProperty("choices").GetArrayLength());
        Assert.Equal(16, last.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var streamed = new StringBuilder();
        string? finish = null;
        foreach (var e in events.SkipLast(1))
        {
            var c = e.GetProperty("choices")[0];
            streamed.Append(c.GetProperty("text").GetString());
            if (c.GetProperty("finish_reason").ValueKind == JsonValueKind.String) finish = c.GetProperty("finish_reason").GetString();
        }
        Assert.Equal(text, streamed.ToString());
        Assert.Equal("length", finish);
    }

    [Fact]
    public async Task A_seed_reproduces_a_sampled_completion_and_n_choices_use_seed_plus_index()
    {
        async Task<string> One(long seed)
        {
            var (status, r) = await OpenAiHttp.PostAsync(Server, "/completions", new { model = Adapter, prompt = "The cat", max_tokens = 12, temperature = 1.0, seed });
            Assert.Equal(HttpStatusCode.OK, status);
            return r.GetProperty("choices")[0].GetProperty("text").GetString()!;
        }
        string a = await One(11), b = await One(11);
        Assert.Equal(a, b);
        var others = new[] { await One(12), await One(13) };
        Assert.Contains(others, o => o != a);

        var (st, three) = await OpenAiHttp.PostAsync(Server, "/completions", new { model = Adapter, prompt = "The cat", max_tokens = 12, temperature = 1.0, seed = 11, n = 3 });
        Assert.Equal(HttpStatusCode.OK, st);
        var choices = three.GetProperty("choices").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2], choices.Select(c => c.GetProperty("index").GetInt32()));
        Assert.Equal(a, choices[0].GetProperty("text").GetString());
        Assert.Equal(others[0], choices[1].GetProperty("text").GetString());
        Assert.Equal(others[1], choices[2].GetProperty("text").GetString());
        Assert.Equal(36, three.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task A_prompt_list_gives_n_choices_per_prompt_in_prompt_order()
    {
        var (status, r) = await OpenAiHttp.PostAsync(Server, "/completions",
            new { model = Server.ServedModel, prompt = new[] { "hello world", "the cat sat" }, max_tokens = 4, temperature = 0, n = 2 });
        Assert.Equal(HttpStatusCode.OK, status);
        var texts = r.GetProperty("choices").EnumerateArray().Select(c => c.GetProperty("text").GetString()).ToList();
        Assert.Equal(4, texts.Count);
        Assert.Equal(texts[0], texts[1]);   // greedy: both choices of a prompt agree
        Assert.Equal(texts[2], texts[3]);
        var (_, alone) = await OpenAiHttp.PostAsync(Server, "/completions", new { model = Server.ServedModel, prompt = "the cat sat", max_tokens = 4, temperature = 0 });
        Assert.Equal(alone.GetProperty("choices")[0].GetProperty("text").GetString(), texts[2]);
    }

    [Fact]
    public async Task A_stop_string_cuts_the_text_before_it_and_finishes_with_stop()
    {
        var (_, full) = await OpenAiHttp.PostAsync(Server, "/completions", new { model = Adapter, prompt = "hello", max_tokens = 24, temperature = 0 });
        string text = full.GetProperty("choices")[0].GetProperty("text").GetString()!;
        Assert.True(text.Length > 6, $"need a longer completion than '{text}'");
        string stop = text.Substring(text.Length / 2, 2);
        int at = text.IndexOf(stop, StringComparison.Ordinal);
        var (_, cut) = await OpenAiHttp.PostAsync(Server, "/completions", new { model = Adapter, prompt = "hello", max_tokens = 24, temperature = 0, stop = new[] { stop } });
        var choice = cut.GetProperty("choices")[0];
        Assert.Equal(text[..at], choice.GetProperty("text").GetString());
        Assert.Equal("stop", choice.GetProperty("finish_reason").GetString());
    }

    [Fact]
    public async Task Completion_logprobs_name_each_token_with_its_top_alternatives()
    {
        // The base model, trained on the demo text, decodes to whole characters (a random adapter can emit a lone
        // byte of a multi-byte character, whose token text alone is U+FFFD).
        var (status, r) = await OpenAiHttp.PostAsync(Server, "/completions", new { model = Server.ServedModel, prompt = "the cat", max_tokens = 6, temperature = 0, logprobs = 3 });
        Assert.Equal(HttpStatusCode.OK, status);
        var choice = r.GetProperty("choices")[0];
        var lp = choice.GetProperty("logprobs");
        var tokens = lp.GetProperty("tokens").EnumerateArray().Select(t => t.GetString()!).ToList();
        Assert.Equal(6, tokens.Count);
        Assert.Equal(choice.GetProperty("text").GetString(), string.Concat(tokens));
        var offsets = lp.GetProperty("text_offset").EnumerateArray().Select(o => o.GetInt32()).ToList();
        for (int i = 0; i < tokens.Count; i++)
        {
            double chosen = lp.GetProperty("token_logprobs")[i].GetDouble();
            Assert.True(chosen <= 0);
            var top = lp.GetProperty("top_logprobs")[i].EnumerateObject().ToList();
            Assert.InRange(top.Count, 1, 4);
            Assert.Contains(top, t => t.Name == tokens[i] && Math.Abs(t.Value.GetDouble() - chosen) < 1e-6);
            // Greedy: the chosen token is the most likely one.
            Assert.True(top.All(t => t.Value.GetDouble() <= chosen + 1e-5), $"token {i}: a top alternative beats the greedy choice");
            if (i > 0) Assert.Equal(offsets[i - 1] + tokens[i - 1].Length, offsets[i]);
        }
        Assert.Equal(0, offsets[0]);
    }

    [Fact]
    public async Task Echo_with_logprobs_scores_the_prompt_as_the_generation_scored_those_tokens()
    {
        // Greedy tokens and their logprobs over gRPC; then the prompt plus those tokens, echoed over HTTP: the prompt
        // positions' logprobs must be what the generation reported for the same tokens (teacher forcing = decoding).
        var codec = (Engine.Text.ITextCodec)Server.Services.GetService(typeof(Engine.Text.ITextCodec))!;
        int[] prompt = codec.Encode("the quick brown fox");
        var grpc = new Protos.V1.GenerateRequest { AdapterId = Adapter, Sampling = new Protos.V1.SamplingOptions { MaxTokens = 4, Temperature = 0, Logprobs = true } };
        grpc.Tokens = new Protos.V1.TokenIds();
        grpc.Tokens.Ids.AddRange(prompt);
        var generated = await Server.Inference.GenerateAsync(grpc);
        int[] all = [.. prompt, .. generated.TokenIds];

        var (status, r) = await OpenAiHttp.PostAsync(Server, "/completions", new { model = Adapter, prompt = all, max_tokens = 1, temperature = 0, echo = true, logprobs = 1 });
        Assert.Equal(HttpStatusCode.OK, status);
        var choice = r.GetProperty("choices")[0];
        Assert.StartsWith(codec.Decode(all), choice.GetProperty("text").GetString(), StringComparison.Ordinal);
        var lps = choice.GetProperty("logprobs").GetProperty("token_logprobs").EnumerateArray().ToList();
        Assert.Equal(all.Length + 1, lps.Count);
        Assert.Equal(JsonValueKind.Null, lps[0].ValueKind);                  // the first prompt token has no context
        Assert.Equal(JsonValueKind.Null, choice.GetProperty("logprobs").GetProperty("top_logprobs")[0].ValueKind);
        for (int i = 0; i < generated.TokenIds.Count; i++)
            Assert.Equal(generated.Logprobs[i], lps[prompt.Length + i].GetDouble(), 2e-3);
    }

    [Fact]
    public async Task Chat_through_the_official_client_streams_what_it_answers_unary()
    {
        var chat = fixture.Client.GetChatClient(Adapter);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 10 };
        ChatMessage[] messages = [new SystemChatMessage("Be brief."), new UserChatMessage("Tell me about the cat.")];
        ChatCompletion unary = (await chat.CompleteChatAsync(messages, options)).Value;
        Assert.Equal(Adapter, unary.Model);
        Assert.Equal(ChatMessageRole.Assistant, unary.Role);
        Assert.Equal(ChatFinishReason.Length, unary.FinishReason);
        Assert.Equal(10, unary.Usage.OutputTokenCount);
        string text = unary.Content[0].Text;
        Assert.NotEmpty(text);

        var streamed = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, options))
        {
            Assert.Equal(Adapter, update.Model);
            foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }
        Assert.Equal(text, streamed.ToString());
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.Equal(unary.Usage.InputTokenCount, usage?.InputTokenCount);
    }

    [Fact]
    public async Task Chat_renders_the_template_exactly_as_tokenize_would()
    {
        // The server's prompt is the template's rendering tokenized without added specials: prompt_tokens must match.
        var template = Model.Tokenization.ChatTemplate.FromDirectory(DemoFixture.Assets.ModelDir)!;
        var codec = (Engine.Text.ITextCodec)Server.Services.GetService(typeof(Engine.Text.ITextCodec))!;
        var messages = new List<object?>
        {
            new OrderedDictionary<string, object?> { ["role"] = "user", ["content"] = "  hello there  " },
        };
        int expected = codec.Encode(template.Render(messages, addGenerationPrompt: true), addSpecialTokens: false).Length;
        var (status, r) = await OpenAiHttp.PostAsync(Server, "/chat/completions",
            new { model = Server.ServedModel, messages = new[] { new { role = "user", content = new object[] { new { type = "text", text = "  hello there  " } } } }, max_tokens = 2, temperature = 0 });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(expected, r.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
    }

    [Fact]
    public async Task Chat_logprobs_come_with_top_alternatives_through_the_official_client()
    {
        var chat = fixture.Client.GetChatClient(OtherAdapter);
        var options = new ChatCompletionOptions { Temperature = 0, MaxOutputTokenCount = 5, IncludeLogProbabilities = true, TopLogProbabilityCount = 3, Seed = 5 };
        ChatCompletion c = (await chat.CompleteChatAsync([new UserChatMessage("hi")], options)).Value;
        Assert.Equal(5, c.ContentTokenLogProbabilities.Count);
        Assert.Equal(c.Content[0].Text, string.Concat(c.ContentTokenLogProbabilities.Select(t => t.Token)));
        foreach (var t in c.ContentTokenLogProbabilities)
        {
            Assert.Equal(3, t.TopLogProbabilities.Count);
            Assert.Equal(t.Token, t.TopLogProbabilities[0].Token);        // greedy: the choice is the top one
            Assert.Equal(Encoding.UTF8.GetBytes(t.Token), t.Utf8Bytes?.ToArray());
        }
    }

    [Fact]
    public async Task Every_error_has_its_status_and_names_the_field()
    {
        var chat = fixture.Client.GetChatClient("no-such-adapter");
        var notFound = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync([new UserChatMessage("hi")]));
        Assert.Equal(404, notFound.Status);
        Assert.Contains("no-such-adapter", notFound.Message, StringComparison.Ordinal);

        var bad = await Assert.ThrowsAsync<ClientResultException>(() =>
            fixture.Client.GetChatClient(Adapter).CompleteChatAsync([new UserChatMessage("hi")], new ChatCompletionOptions { TopP = 2 }));
        Assert.Equal(400, bad.Status);

        async Task Expect(HttpStatusCode code, string path, object body, string? param, string? bearer = null)
        {
            var (status, r) = await OpenAiHttp.PostAsync(Server, path, body, bearer);
            Assert.Equal(code, status);
            var error = r.GetProperty("error");
            Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
            Assert.False(string.IsNullOrEmpty(error.GetProperty("type").GetString()));
            if (param is not null) Assert.Equal(param, error.GetProperty("param").GetString());
        }
        await Expect(HttpStatusCode.BadRequest, "/completions", new { prompt = "x" }, "model");
        await Expect(HttpStatusCode.BadRequest, "/completions", new { model = Adapter }, "prompt");
        await Expect(HttpStatusCode.BadRequest, "/completions", new { model = Adapter, prompt = "x", max_tokens = "many" }, "max_tokens");
        await Expect(HttpStatusCode.BadRequest, "/completions", new { model = Adapter, prompt = "x", logprobs = 9 }, "logprobs");
        await Expect(HttpStatusCode.BadRequest, "/completions", new { model = Adapter, prompt = "x", max_tokens = 100000 }, "max_tokens");
        await Expect(HttpStatusCode.BadRequest, "/completions", new { model = Adapter, prompt = new[] { 1, -2 } }, "prompt");
        await Expect(HttpStatusCode.BadRequest, "/completions", "{not json", null);
        await Expect(HttpStatusCode.BadRequest, "/chat/completions", new { model = Adapter, messages = Array.Empty<object>() }, "messages");
        await Expect(HttpStatusCode.BadRequest, "/chat/completions", new { model = Adapter, messages = new[] { new { content = "no role" } } }, "messages[0].role");
        await Expect(HttpStatusCode.BadRequest, "/chat/completions", new { model = Adapter, messages = new[] { new { role = "user", content = "x" } }, top_logprobs = 2 }, "top_logprobs");
        await Expect(HttpStatusCode.NotFound, "/completions", new { model = "../etc/passwd", prompt = "x" }, "model");
        // What the engine cannot honour is refused, not ignored: the client would get another distribution unawares.
        await Expect(HttpStatusCode.BadRequest, "/completions", new { model = Adapter, prompt = "x", presence_penalty = 0.5 }, "presence_penalty");
        await Expect(HttpStatusCode.BadRequest, "/completions", new { model = Adapter, prompt = "x", logit_bias = new Dictionary<string, int> { ["5"] = 100 } }, "logit_bias");
        await Expect(HttpStatusCode.BadRequest, "/completions", new { model = Adapter, prompt = "x", best_of = 3 }, "best_of");
        await Expect(HttpStatusCode.BadRequest, "/completions", new { model = Adapter, prompt = "x", suffix = "end" }, "suffix");
        await Expect(HttpStatusCode.BadRequest, "/chat/completions", new { model = Adapter, messages = new[] { new { role = "user", content = "x" } }, response_format = new { type = "json_object" } }, "response_format");
        await Expect(HttpStatusCode.BadRequest, "/chat/completions", new { model = Adapter, messages = new[] { new { role = "user", content = "x" } }, tool_choice = "required" }, "tool_choice");
        await Expect(HttpStatusCode.BadRequest, "/chat/completions", new { model = Adapter, messages = new[] { new { role = "user", content = new[] { new { type = "image_url", image_url = "x" } } } } }, "messages[0].content");
        await Expect(HttpStatusCode.Unauthorized, "/load_lora_adapter", new { lora_name = "x", lora_path = "x" }, null);
        await Expect(HttpStatusCode.Unauthorized, "/load_lora_adapter", new { lora_name = "x", lora_path = "x" }, null, bearer: "wrong");
        await Expect(HttpStatusCode.Forbidden, "/load_lora_adapter", new { lora_name = "x", lora_path = "/etc" }, "lora_path", bearer: "s3cret");
        await Expect(HttpStatusCode.NotFound, "/unload_lora_adapter", new { lora_name = "never-there" }, null, bearer: "s3cret");
        await Expect(HttpStatusCode.BadRequest, "/unload_lora_adapter", new { lora_name = "a/b" }, "lora_name", bearer: "s3cret");

        using var huge = OpenAiHttp.Request(Server, "/completions", new string(' ', (4 << 20) + 10), null);
        using var tooLarge = await OpenAiHttp.Client.SendAsync(huge);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);

        // The server still serves after all of that.
        var (ok, _) = await OpenAiHttp.PostAsync(Server, "/completions", new { model = Adapter, prompt = "x", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.OK, ok);
    }

    [Fact]
    public async Task Unknown_fields_and_neutral_values_of_unsupported_ones_are_accepted()
    {
        var (status, r) = await OpenAiHttp.PostAsync(Server, "/completions", new
        {
            model = Adapter, prompt = "x", max_tokens = 2, user = "u-1", frequency_penalty = 0, presence_penalty = 0,
            logit_bias = new { }, best_of = 1, some_future_field = new { nested = true },
        });
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(2, r.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Fact]
    public async Task Microsoft_extensions_ai_chat_client_works_against_the_server()
    {
        // Microsoft.Extensions.AI's IChatClient over the OpenAI library (static calls: its ChatMessage would clash with OpenAI's).
        Microsoft.Extensions.AI.IChatClient client = Microsoft.Extensions.AI.OpenAIClientExtensions.AsIChatClient(fixture.Client.GetChatClient(Adapter));
        var response = await Microsoft.Extensions.AI.ChatClientExtensions.GetResponseAsync(client, "Tell me about the cat.",
            new Microsoft.Extensions.AI.ChatOptions { Temperature = 0, MaxOutputTokens = 6 });
        Assert.NotEmpty(response.Text);
        Assert.Equal(Adapter, response.ModelId);
        Assert.Equal(6, response.Usage?.OutputTokenCount);
        var streamed = new StringBuilder();
        await foreach (var update in Microsoft.Extensions.AI.ChatClientExtensions.GetStreamingResponseAsync(client, "Tell me about the cat.",
            new Microsoft.Extensions.AI.ChatOptions { Temperature = 0, MaxOutputTokens = 6 }))
            streamed.Append(update.Text);
        Assert.Equal(response.Text, streamed.ToString());
    }

    [Fact]
    public async Task An_adapter_folder_with_its_own_chat_template_uses_it_and_sees_edits()
    {
        string id = "templated-" + Guid.NewGuid().ToString("N")[..6];
        string dir = Path.Combine(Server.AdapterRoot, id);
        Directory.CreateDirectory(dir);
        foreach (var f in Directory.GetFiles(Path.Combine(Server.AdapterRoot, Adapter))) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
        var codec = (Engine.Text.ITextCodec)Server.Services.GetService(typeof(Engine.Text.ITextCodec))!;
        var body = new { model = id, messages = new[] { new { role = "user", content = "the cat sat on the mat" } }, max_tokens = 1 };

        // Without a template of its own, the base model's renders the conversation.
        var (_, baseRendered) = await OpenAiHttp.PostAsync(Server, "/chat/completions", body);
        var (_, onBase) = await OpenAiHttp.PostAsync(Server, "/chat/completions", body with { model = Server.ServedModel });
        Assert.Equal(onBase.GetProperty("usage").GetProperty("prompt_tokens").GetInt32(), baseRendered.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        // With one, the adapter's own wins (LoRAX's rule); its tokenizer_config.json has no special tokens, so the base's are used.
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            JsonSerializer.Serialize(new { chat_template = "{{ bos_token }}Q: {{ messages[0]['content'] }}\nA:" }));
        var (status, own) = await OpenAiHttp.PostAsync(Server, "/chat/completions", body);
        Assert.Equal(HttpStatusCode.OK, status);
        int expected = codec.Encode("<|begin_of_text|>Q: the cat sat on the mat\nA:", addSpecialTokens: false).Length;
        Assert.Equal(expected, own.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        // An edit is seen on the next request (the parsed template is cached by file size and time).
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            JsonSerializer.Serialize(new { chat_template = "{{ messages[0]['content'] }}" }));
        File.SetLastWriteTimeUtc(Path.Combine(dir, "tokenizer_config.json"), DateTime.UtcNow.AddMinutes(1));
        var (_, edited) = await OpenAiHttp.PostAsync(Server, "/chat/completions", body);
        Assert.Equal(codec.Encode("the cat sat on the mat", addSpecialTokens: false).Length, edited.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        // A template that refuses the conversation is a 400 with its own message.
        File.WriteAllText(Path.Combine(dir, "tokenizer_config.json"),
            JsonSerializer.Serialize(new { chat_template = "{{ raise_exception('only one message, please') if messages | length > 1 }}{{ messages[0]['content'] }}" }));
        File.SetLastWriteTimeUtc(Path.Combine(dir, "tokenizer_config.json"), DateTime.UtcNow.AddMinutes(2));
        var (refused, error) = await OpenAiHttp.PostAsync(Server, "/chat/completions",
            new { model = id, messages = new[] { new { role = "user", content = "a" }, new { role = "user", content = "b" } }, max_tokens = 1 });
        Assert.Equal(HttpStatusCode.BadRequest, refused);
        Assert.Contains("only one message, please", error.GetProperty("error").GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_gateway_header_picks_the_adapter_of_a_grpc_request()
    {
        var plain = InferenceTests.Request("the cat", adapter: "", maxTokens: 6, temperature: 0);
        var direct = await Server.Inference.GenerateAsync(InferenceTests.Request("the cat", adapter: Adapter, maxTokens: 6, temperature: 0));
        var headers = new global::Grpc.Core.Metadata { { "x-llm-d-model-name-rewrite", Adapter } };
        var routed = await Server.Inference.GenerateAsync(plain, headers);
        Assert.Equal(Adapter, routed.AdapterId);
        Assert.Equal(direct.TokenIds, routed.TokenIds);
        var unknown = new global::Grpc.Core.Metadata { { "x-llm-d-model-name-rewrite", "no-such-adapter" } };
        var ex = await Assert.ThrowsAsync<global::Grpc.Core.RpcException>(async () => await Server.Inference.GenerateAsync(plain, unknown));
        Assert.Equal(global::Grpc.Core.StatusCode.NotFound, ex.StatusCode);
    }

    [Fact]
    public async Task Load_and_unload_change_what_the_api_serves()
    {
        // A copy of a demo adapter under a new id, inside the root: unknown until loaded, served after, gone after unload.
        string id = "copied-" + Guid.NewGuid().ToString("N")[..6];
        string source = Path.Combine(Server.AdapterRoot, Adapter);
        string target = Path.Combine(Server.AdapterRoot, "staging", id);
        Directory.CreateDirectory(target);
        foreach (var f in Directory.GetFiles(source)) File.Copy(f, Path.Combine(target, Path.GetFileName(f)));

        var (before, _) = await OpenAiHttp.PostAsync(Server, "/completions", new { model = id, prompt = "x", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.NotFound, before);
        var (loaded, text) = await OpenAiHttp.PostAsync(Server, "/load_lora_adapter", new { lora_name = id, lora_path = target }, "s3cret");
        Assert.Equal(HttpStatusCode.OK, loaded);
        Assert.Contains(id, text.GetString(), StringComparison.Ordinal);
        var models = await fixture.Client.GetOpenAIModelClient().GetModelsAsync();
        Assert.Contains(models.Value, m => m.Id == id);
        var (served, r) = await OpenAiHttp.PostAsync(Server, "/completions", new { model = id, prompt = "x", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.OK, served);
        Assert.Equal(id, r.GetProperty("model").GetString());
        var (unloaded, _) = await OpenAiHttp.PostAsync(Server, "/unload_lora_adapter", new { lora_name = id }, "s3cret");
        Assert.Equal(HttpStatusCode.OK, unloaded);
        var (after, _) = await OpenAiHttp.PostAsync(Server, "/completions", new { model = id, prompt = "x", max_tokens = 2 });
        Assert.Equal(HttpStatusCode.NotFound, after);
    }

    [Fact]
    public async Task Health_and_metrics_are_on_the_http_port_and_not_on_grpc()
    {
        using var health = await OpenAiHttp.Client.GetAsync(new Uri($"http://{Server.Endpoints.Http}/health"));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        using var metrics = await OpenAiHttp.Client.GetAsync(new Uri($"http://{Server.Endpoints.Http}/metrics"));
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
        string text = await metrics.Content.ReadAsStringAsync();
        Assert.Contains("lorasqueeze_lora_requests_info{", text, StringComparison.Ordinal);
        Assert.Contains("lorasqueeze_requests_total{method=\"/v1/completions\"", text, StringComparison.Ordinal);
        using var onMetricsPort = await OpenAiHttp.Client.GetAsync(new Uri($"http://{Server.Endpoints.Metrics}/v1/models"));
        Assert.Equal(HttpStatusCode.NotFound, onMetricsPort.StatusCode);
    }
}
