/**
 * The OpenAI-compatible provider against a real chat-completions server on loopback: what goes
 * on the wire, what comes back, and how every kind of failure is reported.
 */
import { OpenAiCompatibleLlm, type OpenAiProviderOptions } from '../../src/llm/openai.js';
import { LlmError } from '../../src/llm/port.js';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fake-openai-server.js';
import { SUMMARY_SCHEMA, failureOf, llmRequest } from './llm-request.js';

let server: FakeOpenAiServer;

beforeAll(async () => {
  server = await startFakeOpenAiServer();
});
afterEach(() => server.reset());
afterAll(async () => {
  await server.close();
});

function provider(options: Partial<OpenAiProviderOptions> = {}): OpenAiCompatibleLlm {
  return new OpenAiCompatibleLlm({
    baseUrl: server.url,
    apiKey: 'test-key',
    model: 'gpt-test',
    timeoutMs: 5000,
    ...options,
  });
}

interface SentBody {
  model: string;
  stream: boolean;
  stream_options?: { include_usage: boolean };
  messages: Array<{ role: string; content: string }>;
  response_format: { type: string; json_schema?: { name: string; schema: Record<string, unknown>; strict: boolean } };
}

const sent = (index = 0): SentBody => server.requests[index]!.body as SentBody;

describe('when the model answers', () => {
  it('then the request carries the step schema as a strict json_schema response format and streams', async () => {
    server.enqueue({ type: 'reply', text: '{"summary":"fox","bullets":[]}' });

    await provider().complete(llmRequest({ schemaName: 'draft brief (v2)!' }));

    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]!.path).toBe('/v1/chat/completions');
    expect(server.requests[0]!.headers.authorization).toBe('Bearer test-key');
    const body = sent();
    expect(body.model).toBe('gpt-test');
    expect(body.stream).toBe(true);
    expect(body.stream_options).toEqual({ include_usage: true });
    expect(body.messages).toEqual(llmRequest().messages);
    expect(body.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'draft_brief__v2__', schema: SUMMARY_SCHEMA, strict: true },
    });
  });

  it('then deltas reach onDelta in order and the text is their concatenation, with usage and model', async () => {
    const chunks = ['{"summary":', '"a quick', ' fox",', '"bullets":["one"]}'];
    server.enqueue({
      type: 'reply',
      chunks,
      chunkDelayMs: 5,
      model: 'gpt-test-2025',
      usage: { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52 },
    });
    const deltas: string[] = [];

    const response = await provider().complete(llmRequest({ onDelta: (d) => deltas.push(d) }));

    expect(deltas).toEqual(chunks);
    expect(response.text).toBe(chunks.join(''));
    expect(JSON.parse(response.text)).toEqual({ summary: 'a quick fox', bullets: ['one'] });
    expect(response.usage).toEqual({ prompt_tokens: 40, completion_tokens: 12, total_tokens: 52 });
    expect(response.model).toBe('gpt-test-2025');
    await server.requests[0]!.closed;
    expect(server.requests[0]!.clientClosed).toBe(false);
  });

  it('then a server that sends no usage yields usage null', async () => {
    server.enqueue({ type: 'reply', text: '{}', usage: null });

    const response = await provider().complete(llmRequest());

    expect(response.usage).toBeNull();
  });

  it('then a server that ignores stream:true and answers JSON still works', async () => {
    server.enqueue({ type: 'reply', text: '{"summary":"s","bullets":[]}', mode: 'json' });
    const deltas: string[] = [];

    const response = await provider().complete(llmRequest({ onDelta: (d) => deltas.push(d) }));

    expect(response.text).toBe('{"summary":"s","bullets":[]}');
    expect(deltas).toEqual(['{"summary":"s","bullets":[]}']);
    expect(response.usage).toEqual({ prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 });
  });

  it('then a schema strict mode cannot take goes out with strict false, unchanged', async () => {
    const loose = { type: 'object', properties: { summary: { type: 'string', minLength: 1 } }, required: ['summary'] };

    await provider().complete(llmRequest({ outputSchema: loose }));

    expect(sent().response_format.json_schema).toEqual({ name: 'summarize', schema: loose, strict: false });
  });
});

describe('when the step may ask for clarification', () => {
  it('then the schema sent is the output-or-questions envelope, strict when the output schema is', async () => {
    server.enqueue({ type: 'reply', text: '{"output":{"summary":"s","bullets":[]},"questions":null}' });

    const response = await provider().complete(llmRequest({ mayRequestClarification: true }));

    const format = sent().response_format.json_schema!;
    expect(format.strict).toBe(true);
    expect(format.schema).toMatchObject({
      type: 'object',
      required: ['output', 'questions'],
      additionalProperties: false,
      properties: { output: { anyOf: [SUMMARY_SCHEMA, { type: 'null' }] } },
    });
    expect(sent().messages[0]!.role).toBe('system');
    expect(sent().messages[0]!.content).toContain('"questions"');
    expect(JSON.parse(response.text)).toEqual({ summary: 's', bullets: [] });
  });

  it('then questions come back as a top-level {"questions": [...]} answer', async () => {
    const questions = [{ id: 'audience', text: 'Who reads it?', required: true }];
    server.enqueue({ type: 'reply', text: JSON.stringify({ output: null, questions }) });

    const response = await provider().complete(llmRequest({ mayRequestClarification: true }));

    expect(JSON.parse(response.text)).toEqual({ questions });
  });
});

describe('when the server only takes json_object', () => {
  it('then response_format is json_object and the schema is in the system prompt', async () => {
    server.enqueue({ type: 'reply', text: '{"summary":"s","bullets":[]}' });

    const response = await provider({ responseFormat: 'json_object' }).complete(
      llmRequest({ mayRequestClarification: true }),
    );

    const body = sent();
    expect(body.response_format).toEqual({ type: 'json_object' });
    expect(body.messages).toHaveLength(2);
    expect(body.messages[0]!.content).toMatch(/^You summarise text\.\n\n/);
    expect(body.messages[0]!.content).toContain(JSON.stringify(SUMMARY_SCHEMA));
    expect(body.messages[0]!.content).toContain('{"questions"');
    expect(response.text).toBe('{"summary":"s","bullets":[]}');
  });
});

describe('when the server answers with an error status', () => {
  it('then 429 with Retry-After in seconds is retryable, rate_limited, with retryAfterMs', async () => {
    server.enqueue({ type: 'status', status: 429, headers: { 'retry-after': '7' } });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ retryable: true, kind: 'rate_limited', status: 429, retryAfterMs: 7000 });
    expect(server.requests).toHaveLength(1);
  });

  it('then 503 with Retry-After as an HTTP date is retryable with the time left until then', async () => {
    const at = new Date(Date.now() + 30_000).toUTCString();
    server.enqueue({ type: 'status', status: 503, headers: { 'retry-after': at } });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: true, kind: 'server', status: 503 });
    expect(error.retryAfterMs).toBeGreaterThan(25_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(30_000);
  });

  it.each([500, 502])('then %i is retryable and tried only once (the SDK does not retry)', async (status) => {
    server.enqueue({ type: 'status', status });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: true, kind: 'server', status });
    expect(error.retryAfterMs).toBeUndefined();
    expect(server.requests).toHaveLength(1);
  });

  it.each([400, 401, 403, 404, 422])('then %i is not retryable', async (status) => {
    server.enqueue({ type: 'status', status, headers: { 'retry-after': '1' } });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: false, kind: 'client', status });
    expect(server.requests).toHaveLength(1);
  });
});

describe('when the connection or the stream breaks', () => {
  it('then a socket closed before any answer is a retryable network error', async () => {
    server.enqueue({ type: 'drop' });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: true, kind: 'network' });
  });

  it('then a socket dropped mid-stream is a retryable network error, after the deltas so far', async () => {
    server.enqueue({ type: 'reply', chunks: ['{"summary":', '"half'], then: 'drop' });
    const deltas: string[] = [];

    const error = await failureOf(provider().complete(llmRequest({ onDelta: (d) => deltas.push(d) })));

    expect(error).toMatchObject({ retryable: true, kind: 'network' });
    expect(deltas).toEqual(['{"summary":', '"half']);
  });

  it('then a stream that ends without a finish is retryable, not a short success', async () => {
    server.enqueue({ type: 'reply', chunks: ['{"summary":'], then: 'end' });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: true, kind: 'network' });
    expect(error.message).toMatch(/finish_reason/);
  });

  it('then broken SSE is a retryable failure', async () => {
    server.enqueue({ type: 'broken_sse' });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toBeInstanceOf(LlmError);
    expect(error.retryable).toBe(true);
  });

  it('then malformed JSON in a non-streamed answer is a retryable failure', async () => {
    server.enqueue({ type: 'malformed_json' });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: true, kind: 'network' });
    expect(error.message).toMatch(/not JSON/);
  });

  it('then an error object inside the stream is a retryable server error', async () => {
    server.enqueue({ type: 'stream_error', chunks: ['{"sum'], message: 'model crashed' });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: true, kind: 'server' });
    expect(error.message).toMatch(/model crashed/);
  });

  it('then nothing listening on the port is a retryable network error', async () => {
    const closed = await startFakeOpenAiServer();
    const url = closed.url;
    await closed.close();

    const error = await failureOf(provider({ baseUrl: url }).complete(llmRequest()));

    expect(error).toMatchObject({ retryable: true, kind: 'network' });
  });
});

describe('when the call takes too long', () => {
  it('then a server that never answers times out: retryable, kind timeout, connection closed', async () => {
    server.enqueue({ type: 'hang' });
    const started = Date.now();

    const error = await failureOf(provider().complete(llmRequest({ timeoutMs: 300 })));

    expect(error).toMatchObject({ retryable: true, kind: 'timeout' });
    expect(Date.now() - started).toBeLessThan(3000);
    const record = await server.request(0);
    await record.closed;
    expect(record.clientClosed).toBe(true);
  });

  it('then a stream that stalls after some deltas times out too (the deadline covers the body)', async () => {
    server.enqueue({ type: 'reply', chunks: ['{"summary":'], then: 'hang' });
    const deltas: string[] = [];

    const error = await failureOf(provider().complete(llmRequest({ timeoutMs: 400, onDelta: (d) => deltas.push(d) })));

    expect(error).toMatchObject({ retryable: true, kind: 'timeout' });
    expect(deltas).toEqual(['{"summary":']);
    const record = await server.request(0);
    await record.closed;
    expect(record.clientClosed).toBe(true);
  });

  it('then the provider default applies when the request has no timeout of its own', async () => {
    server.enqueue({ type: 'hang' });

    const error = await failureOf(provider({ timeoutMs: 250 }).complete(llmRequest({ timeoutMs: 0 })));

    expect(error).toMatchObject({ kind: 'timeout' });
  });
});

describe('when the caller cancels', () => {
  it('then mid-stream the request is aborted on the wire and the error is kind aborted', async () => {
    server.enqueue({ type: 'reply', chunks: ['{"summary":', '"a', ' b', ' c"}'], chunkDelayMs: 150 });
    const controller = new AbortController();
    const deltas: string[] = [];

    const error = await failureOf(
      provider().complete(
        llmRequest({
          signal: controller.signal,
          onDelta: (d) => {
            deltas.push(d);
            controller.abort();
          },
        }),
      ),
    );

    expect(error).toMatchObject({ retryable: false, kind: 'aborted' });
    expect(deltas).toEqual(['{"summary":']);
    const record = await server.request(0);
    await record.closed;
    expect(record.clientClosed).toBe(true);
    expect(record.completed).toBe(false);
  });

  it('then while waiting for headers the connection is closed too', async () => {
    server.enqueue({ type: 'hang' });
    const controller = new AbortController();
    const call = provider().complete(llmRequest({ signal: controller.signal }));
    const record = await server.request(0);

    const abortedAt = Date.now();
    controller.abort();
    const error = await failureOf(call);

    expect(error).toMatchObject({ retryable: false, kind: 'aborted' });
    await record.closed;
    expect(Date.now() - abortedAt).toBeLessThan(1000);
    expect(record.clientClosed).toBe(true);
  });

  it('then an already aborted signal sends nothing', async () => {
    const controller = new AbortController();
    controller.abort();

    const error = await failureOf(provider().complete(llmRequest({ signal: controller.signal })));

    expect(error).toMatchObject({ kind: 'aborted' });
    expect(server.requests).toHaveLength(0);
  });
});
