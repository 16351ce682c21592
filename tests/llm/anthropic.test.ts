/**
 * The Anthropic provider against a loopback fake of the streaming messages API.
 */
import { AnthropicLlm, OUTPUT_TOOL, QUESTIONS_TOOL, type AnthropicProviderOptions } from '../../src/llm/anthropic.js';
import { LlmError } from '../../src/llm/port.js';
import { startFakeAnthropicServer, type FakeAnthropicServer } from '../support/fake-anthropic-server.js';
import { SUMMARY_SCHEMA, failureOf, llmRequest } from './llm-request.js';

let server: FakeAnthropicServer;

beforeAll(async () => {
  server = await startFakeAnthropicServer();
});
afterEach(() => server.reset());
afterAll(async () => {
  await server.close();
});

function provider(options: Partial<AnthropicProviderOptions> = {}): AnthropicLlm {
  return new AnthropicLlm({
    baseUrl: server.url,
    apiKey: 'test-key',
    model: 'claude-test',
    timeoutMs: 5000,
    ...options,
  });
}

interface SentBody {
  model: string;
  max_tokens: number;
  stream: boolean;
  system?: string;
  messages: Array<{ role: string; content: string }>;
  tools: Array<{ name: string; input_schema: Record<string, unknown> }>;
  tool_choice: Record<string, unknown>;
}

const sent = (index = 0): SentBody => server.requests[index]!.body as SentBody;

describe('when Claude answers', () => {
  it('then the output schema is a forced tool, the system prompt is separate, and deltas stream in order', async () => {
    const chunks = ['{"summary": "a', ' fox", ', '"bullets": []}'];
    server.enqueue({
      type: 'reply',
      text: chunks.join(''),
      chunks,
      chunkDelayMs: 5,
      inputTokens: 30,
      outputTokens: 12,
    });
    const deltas: string[] = [];

    const response = await provider().complete(llmRequest({ onDelta: (d) => deltas.push(d) }));

    const body = sent();
    expect(server.requests[0]!.path).toBe('/v1/messages');
    const { authorization, 'x-api-key': apiKey } = server.requests[0]!.headers;
    expect([authorization, apiKey]).toContain(apiKey === undefined ? 'Bearer test-key' : 'test-key');
    expect(body).toMatchObject({ model: 'claude-test', stream: true, max_tokens: 4096, system: 'You summarise text.' });
    expect(body.messages).toEqual([{ role: 'user', content: 'Summarise: the quick brown fox.' }]);
    expect(body.tools).toHaveLength(1);
    expect(body.tools[0]).toMatchObject({ name: OUTPUT_TOOL, input_schema: SUMMARY_SCHEMA });
    expect(body.tool_choice).toEqual({ type: 'tool', name: OUTPUT_TOOL, disable_parallel_tool_use: true });
    expect(deltas).toEqual(chunks);
    expect(JSON.parse(response.text)).toEqual({ summary: 'a fox', bullets: [] });
    expect(response.usage).toEqual({ prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 });
    expect(response.model).toBe('claude-test');
  });

  it('then a step that may ask offers a questions tool and questions come back as {"questions": [...]}', async () => {
    const questions = [{ id: 'audience', text: 'Who reads it?', required: true }];
    server.enqueue({ type: 'reply', toolName: QUESTIONS_TOOL, text: JSON.stringify({ questions }) });

    const response = await provider().complete(llmRequest({ mayRequestClarification: true }));

    expect(sent().tools.map((t) => t.name)).toEqual([OUTPUT_TOOL, QUESTIONS_TOOL]);
    expect(sent().tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(JSON.parse(response.text)).toEqual({ questions });
  });

  it('then a non-object output schema is wrapped for the tool and unwrapped in the answer', async () => {
    const listSchema = { type: 'array', items: { $ref: '#/$defs/task' }, $defs: { task: { type: 'string' } } };
    server.enqueue({ type: 'reply', text: '{"value": ["plan", "build"]}' });

    const response = await provider().complete(llmRequest({ outputSchema: listSchema }));

    expect(sent().tools[0]!.input_schema).toEqual({
      type: 'object',
      properties: { value: { type: 'array', items: { $ref: '#/$defs/task' } } },
      required: ['value'],
      $defs: { task: { type: 'string' } },
    });
    expect(JSON.parse(response.text)).toEqual(['plan', 'build']);
  });

  it('then a plain text answer (a proxy that ignores tools) is passed through as text', async () => {
    server.enqueue({
      type: 'reply',
      block: 'text',
      text: '{"summary":"t","bullets":[]}',
      chunks: ['{"summary":"t",', '"bullets":[]}'],
    });

    const response = await provider().complete(llmRequest());

    expect(response.text).toBe('{"summary":"t","bullets":[]}');
  });
});

describe('when the messages API fails', () => {
  it('then 429 with Retry-After is retryable, rate_limited, with retryAfterMs', async () => {
    server.enqueue({ type: 'status', status: 429, errorType: 'rate_limit_error', headers: { 'retry-after': '3' } });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ retryable: true, kind: 'rate_limited', status: 429, retryAfterMs: 3000 });
    expect(server.requests).toHaveLength(1);
  });

  it.each([500, 529])('then %i is retryable', async (status) => {
    server.enqueue({ type: 'status', status, errorType: 'overloaded_error' });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: true, kind: 'server', status });
    expect(server.requests).toHaveLength(1);
  });

  it.each([400, 401, 403])('then %i is not retryable', async (status) => {
    server.enqueue({ type: 'status', status, errorType: 'invalid_request_error' });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: false, kind: 'client', status });
  });

  it('then an overloaded error event inside the stream is retryable', async () => {
    server.enqueue({ type: 'error_event', errorType: 'overloaded_error' });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: true, kind: 'server' });
  });

  it('then an invalid-request error event inside the stream is not retryable', async () => {
    server.enqueue({ type: 'error_event', errorType: 'invalid_request_error' });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: false, kind: 'client' });
  });

  it('then a connection dropped mid-stream is a retryable network error', async () => {
    server.enqueue({ type: 'reply', text: '{"summary":', then: 'drop' });

    const error = await failureOf(provider().complete(llmRequest()));

    expect(error).toMatchObject({ retryable: true, kind: 'network' });
  });

  it('then a server that never answers times out, retryable', async () => {
    server.enqueue({ type: 'hang' });

    const error = await failureOf(provider().complete(llmRequest({ timeoutMs: 300 })));

    expect(error).toMatchObject({ retryable: true, kind: 'timeout' });
    const record = await server.request(0);
    await record.closed;
    expect(record.clientClosed).toBe(true);
  });

  it('then a caller cancel mid-stream aborts the request on the wire, kind aborted', async () => {
    server.enqueue({ type: 'reply', text: '', chunks: ['{"summary":', '"x",', '"bullets":[]}'], chunkDelayMs: 150 });
    const controller = new AbortController();

    const error = await failureOf(
      provider().complete(llmRequest({ signal: controller.signal, onDelta: () => controller.abort() })),
    );

    expect(error).toMatchObject({ retryable: false, kind: 'aborted' });
    const record = await server.request(0);
    await record.closed;
    expect(record.clientClosed).toBe(true);
    expect(record.completed).toBe(false);
  });
});
