// The server's OpenAI-compatible API driven by the official OpenAI library for Node (openai on npm), for what the
// .NET library cannot send: legacy completions (unary, streamed with usage, logprobs, echo, n, seed) and their errors.
// Usage: node completions-check.mjs BASE_URL ADAPTER BASE_MODEL. Exit 0 and one JSON line when every check holds;
// exit 1 with "FAIL: ..." naming the first that does not.
import OpenAI from 'openai';

const [baseURL, adapter, baseModel] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: 'unused by the server', maxRetries: 0, timeout: 60_000 });

function check(condition, message) {
  if (!condition) {
    console.error('FAIL: ' + message);
    process.exit(1);
  }
}

const models = [];
for await (const m of client.models.list()) models.push(m.id);
check(models[0] === baseModel && models.includes(adapter), `models: ${JSON.stringify(models)}`);

const request = { model: adapter, prompt: 'Once upon a time', max_tokens: 12, temperature: 0 };
const unary = await client.completions.create(request);
check(unary.model === adapter, `unary model ${unary.model}`);
check(unary.object === 'text_completion', `unary object ${unary.object}`);
const text = unary.choices[0].text;
check(text.length > 0 && unary.choices[0].finish_reason === 'length', `unary choice ${JSON.stringify(unary.choices[0])}`);
check(unary.usage.completion_tokens === 12, `unary usage ${JSON.stringify(unary.usage)}`);

const stream = await client.completions.create({ ...request, stream: true, stream_options: { include_usage: true } });
let streamed = '';
let usage = null;
let finish = null;
for await (const chunk of stream) {
  check(chunk.model === adapter, `chunk model ${chunk.model}`);
  for (const c of chunk.choices) {
    streamed += c.text;
    finish = c.finish_reason ?? finish;
  }
  if (chunk.usage) usage = chunk.usage;
}
check(streamed === text, `streamed ${JSON.stringify(streamed)} != unary ${JSON.stringify(text)}`);
check(finish === 'length', `streamed finish ${finish}`);
check(usage && usage.completion_tokens === 12 && usage.total_tokens === usage.prompt_tokens + 12, `streamed usage ${JSON.stringify(usage)}`);

const lp = await client.completions.create({ model: baseModel, prompt: 'the cat', max_tokens: 4, temperature: 0, logprobs: 2 });
const logprobs = lp.choices[0].logprobs;
check(logprobs.tokens.length === 4 && logprobs.token_logprobs.every(x => x <= 0), `logprobs ${JSON.stringify(logprobs)}`);
check(logprobs.top_logprobs.every((d, i) => d[logprobs.tokens[i]] === logprobs.token_logprobs[i]), 'top_logprobs hold the chosen token');

const echo = await client.completions.create({ model: adapter, prompt: 'the cat', max_tokens: 2, temperature: 0, echo: true });
check(echo.choices[0].text.startsWith('the cat'), `echo ${JSON.stringify(echo.choices[0].text)}`);

const seeded = { model: adapter, prompt: 'the cat', max_tokens: 6, temperature: 1, seed: 42, n: 2 };
const a = await client.completions.create(seeded);
const b = await client.completions.create(seeded);
check(a.choices.length === 2 && a.choices.map(c => c.text).join('|') === b.choices.map(c => c.text).join('|'), 'seeded n=2 reproduces');

try {
  await client.completions.create({ model: 'no-such-adapter', prompt: 'x' });
  check(false, 'an unknown model was served');
} catch (e) {
  check(e instanceof OpenAI.NotFoundError && e.status === 404, `unknown model: ${e}`);
}
try {
  await client.completions.create({ model: adapter, prompt: 'x', max_tokens: 100000 });
  check(false, 'max_tokens above the limit was served');
} catch (e) {
  check(e instanceof OpenAI.BadRequestError && e.param === 'max_tokens', `max_tokens over the limit: ${e} (param ${e.param})`);
}

const chat = await client.chat.completions.create({ model: adapter, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4, temperature: 0 });
check(chat.choices[0].message.role === 'assistant' && chat.usage.completion_tokens === 4, `chat ${JSON.stringify(chat)}`);

console.log(JSON.stringify({ ok: true, models: models.length, text }));
