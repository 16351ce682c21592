/**
 * `createLlmProvider`: the configured model behind the circuit breaker.
 */
import { loadConfig, type Config } from '../../src/config.js';
import { createLlmProvider, type LlmConfig } from '../../src/llm/index.js';
import { startFakeOpenAiServer, type FakeOpenAiServer } from '../support/fake-openai-server.js';
import { failureOf, llmRequest } from './llm-request.js';

let server: FakeOpenAiServer;
beforeAll(async () => {
  server = await startFakeOpenAiServer();
});
afterAll(async () => {
  await server.close();
});

const config = (overrides: Partial<LlmConfig> = {}): LlmConfig => ({
  provider: 'fake',
  timeoutMs: 5000,
  responseFormat: 'json_schema',
  breakerFailureThreshold: 2,
  breakerCooldownMs: 60_000,
  ...overrides,
});

describe('when the provider is configured', () => {
  it('then fake answers offline with schema-valid JSON', async () => {
    const llm = createLlmProvider(config());

    const response = await llm.complete(llmRequest());

    expect(llm.name).toBe('fake');
    expect(JSON.parse(response.text)).toEqual(expect.objectContaining({ summary: expect.any(String) }));
  });

  it('then openai talks to the configured base URL with the model and response format, behind the breaker', async () => {
    const calls: string[] = [];
    const llm = createLlmProvider(
      config({ provider: 'openai', baseUrl: server.url, model: 'llama3.1', responseFormat: 'json_object' }),
      { onCall: (record) => calls.push(record.outcome) },
    );
    server.enqueue({ type: 'reply', text: '{"summary":"s","bullets":[]}' });
    server.enqueue({ type: 'status', status: 500 }, { type: 'status', status: 500 });

    await llm.complete(llmRequest());
    await failureOf(llm.complete(llmRequest()));
    await failureOf(llm.complete(llmRequest()));
    const refused = await failureOf(llm.complete(llmRequest()));

    expect(server.requests[0]!.body).toMatchObject({ model: 'llama3.1', response_format: { type: 'json_object' } });
    expect(refused).toMatchObject({ kind: 'unavailable', retryable: true });
    expect(refused.retryAfterMs).toBeGreaterThan(55_000);
    expect(llm.availability()).toEqual({ open: true, retryAfterSeconds: 60 });
    expect(calls).toEqual(['success', 'retryable_error', 'retryable_error', 'refused']);
  });

  it('then the app config section is accepted as it is', () => {
    const app: Config = loadConfig({ LLM_PROVIDER: 'openai', LLM_MODEL: 'm', LLM_BASE_URL: server.url }, process.cwd());

    const llm = createLlmProvider(app.llm);

    expect(llm.name).toBe('openai');
  });

  it('then anthropic without an API key is refused at start-up, naming the variable', () => {
    expect(() => createLlmProvider(config({ provider: 'anthropic' }))).toThrow(/LLM_API_KEY/);
  });
});
