/**
 * The service with LLM_PROVIDER=anthropic against a loopback fake of the messages API: the
 * output schema travels as a forced tool, the tool input becomes the step output, usage is kept,
 * and an overloaded provider is retried.
 */
import pino from 'pino';
import request from 'supertest';
import { loadConfig } from '../../src/config';
import { startService, type Service } from '../../src/service';
import { SEED_WORKFLOWS_DIR } from '../support/engine-harness';
import { startFakeAnthropicServer, type FakeAnthropicServer } from '../support/fake-anthropic-server';
import { removeTempDirs, tempDir } from '../support/temp-dir';
import { waitFor } from '../support/wait';

let model: FakeAnthropicServer;
let service: Service;

beforeAll(async () => {
  model = await startFakeAnthropicServer();
  const config = loadConfig({
    PORT: '0',
    DATA_DIR: await tempDir('hitl-anthropic-'),
    WORKFLOWS_DIR: SEED_WORKFLOWS_DIR,
    LOG_LEVEL: 'silent',
    VALIDATE_RESPONSES: 'true',
    LLM_PROVIDER: 'anthropic',
    LLM_BASE_URL: model.url,
    LLM_API_KEY: 'sk-ant-test',
    LLM_MODEL: 'claude-test',
  });
  service = await startService(config, {
    logger: pino({ level: 'silent' }),
    engineOptions: { retry: { baseDelayMs: 5, maxDelayMs: 20 } },
  });
});
afterAll(async () => {
  await service.stop();
  await model.close();
  await removeTempDirs();
});

const summary = { title: 'Fox report', summary: 'A quick fox jumped.', key_points: ['fox', 'jump'] };

async function runQuickSummary(): Promise<{
  status: string;
  steps: { output: unknown; usage: unknown; attempts: number }[];
}> {
  const started = await request(service.url)
    .post('/api/v1/workflows/quick-summary/start')
    .send({ project_id: 'claude', initial_context: { text: 'The quick brown fox jumps over the lazy dog.' } })
    .expect(202);
  return waitFor(async () => {
    const res = await request(service.url).get(`/api/v1/executions/${started.body.execution_id as string}`);
    return ['completed', 'failed', 'paused'].includes(res.body.status as string) ? res.body : null;
  }, 'the execution to finish');
}

describe('the Anthropic provider through the service', () => {
  it('when Claude answers with the tool call, then its input is the step output, with the usage', async () => {
    model.enqueue({
      type: 'reply',
      text: JSON.stringify(summary),
      chunks: ['{"title": "Fox report", ', '"summary": "A quick fox jumped.", "key_points": ["fox", "jump"]}'],
      inputTokens: 40,
      outputTokens: 20,
    });
    const done = await runQuickSummary();
    expect(done.status).toBe('completed');
    expect(done.steps[0]!.output).toEqual(summary);
    expect(done.steps[0]!.usage).toEqual({ prompt_tokens: 40, completion_tokens: 20, total_tokens: 60 });
    const body = model.requests.at(-1)!.body as {
      model: string;
      tools: { name: string; input_schema: { required: string[] } }[];
      tool_choice: { type: string };
    };
    expect(body.model).toBe('claude-test');
    expect(body.tools[0]!.input_schema.required).toEqual(['title', 'summary', 'key_points']);
    expect(body.tool_choice.type).toBe('tool');
  });

  it('when Claude is overloaded (529) once, then the step is retried and completes', async () => {
    const before = model.requests.length;
    model.enqueue(
      { type: 'status', status: 529, errorType: 'overloaded_error' },
      { type: 'reply', text: JSON.stringify(summary) },
    );
    const done = await runQuickSummary();
    expect(done.status).toBe('completed');
    expect(done.steps[0]!.attempts).toBe(2);
    expect(model.requests.length - before).toBe(2);
  });
});
